"""A scripted device: signs intents and waits for the hub's results over MQTT.

No outbox and no offline policy (that is the device runtime's job): the demo, the hub's
tests and the ingest benchmark use it to drive the hub like a real device would. It keeps
a plain paho client with a clean session on purpose, not `tapcard.mqtt.MqttClient`:
tests reuse device ids on one broker, and a persistent session would hand one test the
results of another.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tapcard.clock import Clock, clock_from_env
from tapcard.device.intents import SealedIntent, seal_intent
from tapcard.errors import TapcardError
from tapcard.wire import messages as m
from tapcard.wire.envelope import WireError, seal, signed_by_hub, unseal
from tapcard.wire.topics import Family, device_topic

CONNECT_TIMEOUT_S = 10.0
RESULT_TIMEOUT_S = 30.0
MQTT_KEEPALIVE_S = 10


class ScriptedDevice:
    def __init__(
        self,
        device_id: str,
        key: SigningKey,
        hub_key: VerifyKey,
        host: str,
        port: int,
        rules_version: int = 1,
        clock: Clock | None = None,
        password: str = "",
    ) -> None:
        self.clock = clock_from_env() if clock is None else clock
        self.device_id = device_id
        self.key = key
        self.hub_key = hub_key
        self._hub_key_for = signed_by_hub(hub_key)
        self.rules_version = rules_version
        self.seq = 0
        self.results: dict[uuid.UUID, m.TxResult] = {}
        self.result_times: dict[uuid.UUID, float] = {}
        self.bad_results = 0
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._result_topic = device_topic(device_id, Family.RESULT)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"scripted-{device_id}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        if password:  # the embedded broker's login for this device (hub.broker)
            self.client.username_pw_set(device_id, password)
        self.client.connect(host, port, keepalive=MQTT_KEEPALIVE_S)
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            self.close()
            raise TapcardError(f"device {device_id} could not reach the broker {host}:{port}")

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        _reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        client.subscribe(self._result_topic, qos=1)
        self._connected.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            _, batch = unseal(bytes(msg.payload), msg.topic, self._hub_key_for, m.TxResults)
        except WireError:
            self.bad_results += 1
            return
        arrived = time.perf_counter()
        with self._cond:
            for result in batch.results:
                self.results.setdefault(result.tx_id, result)
                self.result_times.setdefault(result.tx_id, arrived)
            self._cond.notify_all()

    def make(self, card_id: str, op: m.AnyOp, **kw: Any) -> SealedIntent:
        self.seq += 1
        kw.setdefault("created_ms", self.clock.now_ms())
        return seal_intent(
            self.key, self.device_id, self.seq, card_id, op, self.rules_version, **kw
        )

    def publish(self, sealed: SealedIntent) -> None:
        self.client.publish(sealed.topic, sealed.payload, qos=1, retain=False)

    def send(self, card_id: str, op: m.AnyOp, **kw: Any) -> m.TxResult:
        sealed = self.make(card_id, op, **kw)
        self.publish(sealed)
        return self.wait(sealed.tx_id)

    def wait(self, tx_id: uuid.UUID, timeout_s: float = RESULT_TIMEOUT_S) -> m.TxResult:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while tx_id not in self.results:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TapcardError(f"no result for {tx_id} within {timeout_s} s")
                self._cond.wait(remaining)
            return self.results[tx_id]

    def wait_all(self, tx_ids: list[uuid.UUID], timeout_s: float = RESULT_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while any(t not in self.results for t in tx_ids):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sum(1 for t in tx_ids if t not in self.results)
                    raise TapcardError(f"{missing} results missing after {timeout_s} s")
                self._cond.wait(remaining)

    def publish_raw(self, family: Family, payload: bytes) -> None:
        self.client.publish(device_topic(self.device_id, family), payload, qos=1, retain=False)

    def sealed_body(self, family: Family, body: m.Body) -> bytes:
        return seal(self.key, self.device_id, device_topic(self.device_id, family), body)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
