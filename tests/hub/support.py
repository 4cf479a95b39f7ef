"""Helpers to make signed intents as a device would and hand them to the ledger."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from nacl.signing import SigningKey

from hub.app import Hub
from hub.ledger import Incoming, body_digest
from hub.staff import add_staff
from hub.staff_sessions import open_session, staff_at_branch
from tapcard.device.intents import SealedIntent, StaffBadge, seal_intent
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment, StaffRole
from tapcard.wire import messages as m
from tapcard.wire.envelope import open_envelope
from tests.clock import pinned_now_ms


class Device:
    """Makes intents with consecutive sequence numbers, like a device's outbox."""

    def __init__(self, device_id: str, key: SigningKey, rules_version: int = 1) -> None:
        self.device_id = device_id
        self.key = key
        self.rules_version = rules_version
        self.seq = 0

    def sealed(self, card_id: str, op: m.AnyOp, **kw: Any) -> SealedIntent:
        self.seq += 1
        kw.setdefault("rules_version", self.rules_version)
        return seal_intent(self.key, self.device_id, self.seq, card_id, op, **kw)

    def incoming(self, card_id: str, op: m.AnyOp, **kw: Any) -> Incoming:
        return to_incoming(self.sealed(card_id, op, **kw))


def staff_on_duty(hub: Hub, device_id: str, staff_id: str, branch: str = "shop-1") -> StaffBadge:
    """A cashier of `branch` logged in at the terminal `device_id`: what its intents
    carry to be booked under that staff id (the hub books no unproven staff name)."""
    with hub.transaction() as conn:
        if not staff_at_branch(conn, staff_id, branch):
            add_staff(conn, staff_id, staff_id.title(), branch, StaffRole.CASHIER, "1234", "test")
        now_ms = hub.clock.now_ms()
        token, _ = open_session(conn, staff_id, device_id, StaffRole.CASHIER, now_ms)
    return StaffBadge(staff_id, token)


def to_incoming(sealed: SealedIntent, branch: str = "shop-1") -> Incoming:
    envelope = open_envelope(sealed.payload)
    return Incoming(
        sealed.intent.device, sealed.intent, body_digest(envelope.body.encode()), branch
    )


def purchase(
    *amounts_cents: int,
    category: str = "grocery",
    pay: Payment = Payment.CASH,
    receipt_no: str = "",
) -> m.Purchase:
    lines = [SaleLine(category, amount) for amount in amounts_cents]
    return m.Purchase(lines=lines, payment=pay, receipt_no=receipt_no)


def ms_of(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp() * 1000)


def now_ms() -> int:
    return pinned_now_ms()


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
