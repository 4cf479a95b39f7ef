"""The terminal's staff channel to the hub: MQTT 5 request/response on its own connection.

Requests go to tapcard/v1/dev/<id>/staff signed with the device key; the hub answers on
.../staff-reply with the correlation data echoed and its own signature. A separate
client (client id `tapcard-dev-<id>-staff`) keeps the device runtime's link untouched.
`request` blocks at most its timeout and is only called from the presenter's worker.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tapcard.device.bundle import Bundle
from tapcard.wire import messages as m
from tapcard.wire.envelope import WireError, seal, signed_by_hub, unseal
from tapcard.wire.topics import Family, device_topic

log = logging.getLogger(__name__)

MQTT_KEEPALIVE_S: Final = 20
PENDING_MAX: Final = 8
STOP_TIMEOUT_S: Final = 2.0


class StaffLink:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._hub_key_for = signed_by_hub(bundle.hub_key)
        self.request_topic = device_topic(bundle.device_id, Family.STAFF)
        self.reply_topic = device_topic(bundle.device_id, Family.STAFF_REPLY)
        self.connected = threading.Event()
        self._pending: dict[bytes, tuple[threading.Event, list[m.StaffReply]]] = {}
        self._lock = threading.Lock()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tapcard-dev-{bundle.device_id}-staff",
            protocol=mqtt.MQTTv5,
        )
        if bundle.tls is not None:
            tls = bundle.tls
            client.tls_set(ca_certs=tls.ca, certfile=tls.cert or None, keyfile=tls.key or None)
        client.reconnect_delay_set(1, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    def start(self) -> None:
        self.client.connect_async(
            self.bundle.broker_host, self.bundle.broker_port, keepalive=MQTT_KEEPALIVE_S
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the staff link: %s", reason)
            return
        client.subscribe(self.reply_topic, qos=1)
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        correlation = getattr(msg.properties, "CorrelationData", None)
        try:
            _, reply = unseal(bytes(msg.payload), msg.topic, self._hub_key_for, m.StaffReply)
        except WireError as exc:
            log.warning("refused a staff reply: %s", exc)
            return
        with self._lock:
            waiting = self._pending.get(correlation) if correlation else None
        if waiting is not None and reply.device == self.bundle.device_id:
            waiting[1].append(reply)
            waiting[0].set()

    def request(self, staff: str, op: m.AnyStaffOp, timeout_s: float) -> m.StaffReply | None:
        """The hub's reply, or None when offline or no reply came within `timeout_s`."""
        if not self.connected.is_set():
            return None
        correlation = uuid.uuid4().bytes
        done: threading.Event = threading.Event()
        box: list[m.StaffReply] = []
        with self._lock:
            if len(self._pending) >= PENDING_MAX:
                return None
            self._pending[correlation] = (done, box)
        try:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = self.reply_topic
            props.CorrelationData = correlation
            body = m.StaffRequest(device=self.bundle.device_id, staff=staff, op=op)
            payload = seal(self.bundle.device_key, self.bundle.device_id, self.request_topic, body)
            self.client.publish(self.request_topic, payload, qos=1, retain=False, properties=props)
            done.wait(timeout_s)
        finally:
            with self._lock:
                del self._pending[correlation]
        return box[0] if box else None
