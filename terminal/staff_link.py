"""The terminal's staff channel to the hub: MQTT 5 request/response.

Requests go to tapcard/v1/dev/<id>/staff signed with the device key; the hub answers on
.../staff-reply with the correlation data echoed and its own signature. It is the
device's MQTT client (`tapcard.device.link.device_client`: the same keepalive,
persistent session, TLS and wrapped handlers) under its own client id
`tapcard-dev-<id>-staff`, so a slow staff operation never holds up the runtime's link.
`request` blocks at most its timeout and is only called from the presenter's worker;
the reply is checked on that thread, paho's thread only hands it over.
"""

from __future__ import annotations

import logging
from typing import Final

from tapcard.device.bundle import Bundle
from tapcard.device.link import RECONNECT_DELAY_S_MAX, SESSION_EXPIRY_S, device_client
from tapcard.mqtt import Session
from tapcard.wire import staff_messages as sm
from tapcard.wire.envelope import WireError
from tapcard.wire.topics import Family, device_topic

log = logging.getLogger(__name__)

PENDING_MAX: Final = 8


class StaffLink:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.reply_topic = device_topic(bundle.device_id, Family.STAFF_REPLY)
        session = Session(
            client_id=f"tapcard-dev-{bundle.device_id}-staff",
            host=bundle.broker_host,
            port=bundle.broker_port,
            session_expiry_s=SESSION_EXPIRY_S,
            subscriptions=((self.reply_topic, 1),),
            queued=frozenset(),  # nothing but replies to our requests comes here
            reconnect_delay_s_max=RECONNECT_DELAY_S_MAX,
            requests_pending_max=PENDING_MAX,
        )
        self.client = device_client(bundle, session)
        self.connected = self.client.connected

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.client.stop()

    def request(
        self, staff: str, op: sm.AnyStaffOp, timeout_s: float, session: str = ""
    ) -> sm.StaffReply | None:
        """The hub's reply, or None when offline or no reply came within `timeout_s`.
        `session`: the hub's answer to this staff member's login (logins need none)."""
        body = sm.StaffRequest(device=self.bundle.device_id, staff=staff, session=session, op=op)
        try:
            reply = self.client.request(Family.STAFF, body, sm.StaffReply, timeout_s)
        except WireError as exc:
            log.warning("refused a staff reply: %s", exc)
            return None
        if reply is None or reply.device != self.bundle.device_id:
            return None
        return reply
