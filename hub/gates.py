"""Vouchers consumed by the devices that act alone: a car park's exit gate, a wash bay.

A gate or a bay asks on its staff channel with `UseVoucher` and no staff: its request
is signed by its device key like every other, `staff` names the device's kind and
`session` is empty. The hub never takes the device's word for what it is: its kind and
branch come from the devices table, and what it may consume from
`tapcard.domain.authority.VOUCHER_KINDS` by the kind of the voucher's catalog item (as
the rules stood when it was redeemed) and the voucher's own place and expiry.

Idempotent: a code is consumed once. The same device asking again for the same code
within `RETRY_WINDOW_MS` of consuming it (its reply was lost) gets the same answer with
`repeat` set, not "already used"; any other device, or later, gets "already used". The
HTTP endpoint for third-party car park systems (`hub/gates_http.py`) answers through the
same function.

A member's card at a gate consumes the member's oldest unused voucher that counts there
(`consume_card`); over MQTT the gate sends it verified, with the chip's UID, or the
member's dynamic QR in its place (`GateCard`, `consume_shown`). `check` answers as
`consume` would and changes nothing: the same function in a savepoint that is rolled
back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import clones, db, member_qr
from hub.admin.vouchers import VoucherRefused, use_voucher
from hub.app import Hub
from hub.staff_sessions import device_kind_and_branch
from tapcard.domain import engine as rules_engine
from tapcard.domain.authority import VOUCHER_DEVICES, voucher_denial
from tapcard.domain.model import CardState, DeviceKind
from tapcard.domain.vouchers import Place
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire import staff_messages as sm

RETRY_WINDOW_MS: Final = 10 * 60_000  # a lost reply is retried within minutes, not hours
CARD_VOUCHERS_MAX: Final = 50  # a card's unused vouchers tried in turn, oldest first
# A card's voucher that does not count at this gate: the next one is tried.
_NEXT_VOUCHER: Final = frozenset({"not_allowed", "voucher_expired", "voucher_wrong_branch",
                                  "voucher_wrong_device", "conflict"})  # fmt: skip
VOUCHER_DEVICE_KINDS: Final = frozenset(kind.value for kind in VOUCHER_DEVICES)


@dataclass(frozen=True, slots=True)
class Consumed:
    code: str
    item: str
    units: int
    member_id: int
    used_ms: int
    repeat: bool  # the same device's retry: it was consumed by the first ask
    kind: str = ""  # the item's catalog kind (parking, car_wash)


class GateRefused(Exception):
    """The hub's no, with the staff channel's error word (not_allowed, not_found,
    conflict, invalid, or a voucher_* reason)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def actor_of(device_id: str) -> str:
    return f"device:{device_id}"


def consume(conn: Connection, hub: Hub, device_id: str, code_text: str) -> Consumed:
    """Consume a voucher at device `device_id` (a gate or a bay, as registered)."""
    device = device_kind_and_branch(conn, device_id)
    if device is None or device[0] not in VOUCHER_DEVICE_KINDS:
        raise GateRefused("not_allowed", "vouchers are consumed here by gates and bays only")
    kind, branch = DeviceKind(device[0]), device[1]
    code = rules_engine.parse_voucher_code(code_text)
    if code is None:
        raise GateRefused("invalid", f"{code_text.strip()[:40]!r} is not a voucher code")
    v = db.vouchers
    row = conn.execute(sa.select(v).where(v.c.code == code)).first()
    if row is None:
        raise GateRefused("not_found", f"no voucher {code}")
    item_kind = _item_kind(conn, hub, row)
    why = voucher_denial(kind, item_kind)
    if why:
        raise GateRefused("not_allowed", f"voucher {code}: {why}")
    if row.used_ms is not None:
        again = _retry(conn, row, device_id, item_kind)
        if again is not None:
            return again
    try:
        used = use_voucher(conn, code, actor_of(device_id), Place(branch, kind.value))
    except VoucherRefused as exc:
        raise GateRefused(exc.why.value, str(exc)) from None
    except NotFoundError as exc:
        raise GateRefused("not_found", str(exc)) from None
    except ConflictError as exc:
        raise GateRefused("conflict", str(exc)) from None
    except ValidationError as exc:
        raise GateRefused("invalid", str(exc)) from None
    return Consumed(code, str(used["item"]), int(used["units"]), int(used["member_id"]),
                    int(used["used_ms"]), repeat=False, kind=item_kind)  # fmt: skip


def check(conn: Connection, hub: Hub, device_id: str, code_text: str, card: bool) -> Consumed:
    """What consuming would answer (a code, or a card when `card`), changing nothing."""
    savepoint = conn.begin_nested()
    try:
        if card:
            return consume_card(conn, hub, device_id, code_text)
        return consume(conn, hub, device_id, code_text)
    finally:
        savepoint.rollback()


def consume_card(conn: Connection, hub: Hub, device_id: str, card_id: str) -> Consumed:
    """Consume the oldest unused voucher of the card's member that counts at this gate.
    The same device asking again within the retry window gets that answer again, marked
    repeat (a replayed card never takes a second voucher)."""
    device = device_kind_and_branch(conn, device_id)
    if device is None or device[0] not in VOUCHER_DEVICE_KINDS:
        raise GateRefused("not_allowed", "vouchers are consumed here by gates and bays only")
    c, v = db.cards, db.vouchers
    card = conn.execute(
        sa.select(c.c.member_id, c.c.state).where(c.c.id == card_id.strip()[:32])
    ).first()
    if card is None:
        raise GateRefused("card_unknown", "this is not a membership card of this hub")
    if card.state != CardState.ACTIVE.value:
        raise GateRefused("card_not_active", f"card {card_id.strip()[:32]} is {card.state}")
    recent = conn.execute(
        sa.select(v)
        .where(
            v.c.member_id == card.member_id,
            v.c.used_ms >= db.now_ms(conn) - RETRY_WINDOW_MS,
        )
        .order_by(v.c.used_ms.desc())
    ).all()
    for row in recent:
        again = _retry(conn, row, device_id, _item_kind(conn, hub, row))
        if again is not None:
            return again
    codes = conn.execute(
        sa.select(v.c.code)
        .where(
            v.c.member_id == card.member_id,
            v.c.used_ms.is_(None),
            v.c.expired_ms.is_(None),
            v.c.voided_ms.is_(None),
        )
        .order_by(v.c.issued_ms, v.c.code)
        .limit(CARD_VOUCHERS_MAX)
    ).scalars()
    for code in list(codes):
        savepoint = conn.begin_nested()
        try:
            done = consume(conn, hub, device_id, str(code))
        except GateRefused as exc:
            savepoint.rollback()
            if exc.error not in _NEXT_VOUCHER:
                raise
            continue
        savepoint.commit()
        return done
    raise GateRefused("no_voucher", "the card's member holds no voucher that counts here")


def _item_kind(conn: Connection, hub: Hub, row: Any) -> str:
    """The catalog kind of the voucher's item in the rules its redemption was booked
    under (the latest rules for a redemption the hub cannot find)."""
    t = db.transfers
    version = conn.execute(
        sa.select(t.c.rules_version).where(t.c.tx_id == row.tx_id)
    ).scalar_one_or_none()
    rules = hub.rules.get(int(version)) if version is not None else None
    if rules is None:
        rules = hub.rules.latest()
    item = next((i for i in rules.catalog if i.code == row.item), None)
    return "" if item is None else item.kind.value


def _retry(conn: Connection, row: Any, device_id: str, kind: str) -> Consumed | None:
    """The first answer again, when this device consumed it moments ago."""
    used_ms = int(row.used_ms)
    if db.now_ms(conn) - used_ms > RETRY_WINDOW_MS:
        return None
    a = db.audit
    # A code is used once, so its one voucher.use row says who (its at_ms is read from
    # the clock a moment after used_ms: never compared).
    mine = conn.execute(
        sa.select(a.c.id).where(
            a.c.action == "voucher.use",
            a.c.target == row.code,
            a.c.actor == actor_of(device_id),
        )
    ).first()
    if mine is None:
        return None
    return Consumed(str(row.code), str(row.item), int(row.units), int(row.member_id), used_ms,
                    repeat=True, kind=kind)  # fmt: skip


def consume_shown(conn: Connection, hub: Hub, device_id: str, op: sm.GateCard) -> Consumed:
    """A member's card or dynamic QR at a gate or a bay: the member QR is taken once
    (hub/member_qr.py), then both go on as a tapped card (`consume_card`)."""
    if bool(op.qr) == bool(op.card_id):
        raise GateRefused("invalid", "a card or a member code: one of them")
    card_id = op.card_id
    if op.qr:
        try:
            card_id = member_qr.redeem(conn, hub.secrets, op.qr, hub.clock.now_ms()).card_id
        except member_qr.MemberQrRefused as exc:
            raise GateRefused(exc.reason, str(exc)) from None
    return consume_card(conn, hub, device_id, card_id)


def _chip_refusal(conn: Connection, device_id: str, op: sm.GateCard) -> dict[str, Any] | None:
    """A verified card read from a chip other than its issued one: refused, and the
    suspected clone recorded for HQ as a snapshot query's UID is (hub/clones.py)."""
    if not op.card_id or not op.uid:
        return None
    c = db.cards
    issued = conn.execute(sa.select(c.c.uid).where(c.c.id == op.card_id)).scalar()
    if not issued or str(issued).lower() == op.uid:
        return None
    clones.note_seen_uid(conn, op.card_id, str(issued), op.uid, device_id)
    return {"error": "card_not_genuine", "message": f"card {op.card_id} is on another chip"}


def reply_fields(hub: Hub, conn: Connection, request: sm.StaffRequest) -> dict[str, Any]:
    """The staff reply's fields for a gate's or a bay's request (hub/staff.py hands
    them over once the devices table says it is one)."""
    op = request.op
    if not isinstance(op, sm.UseVoucher | sm.GateCard):
        return {"error": "not_allowed", "message": "a gate or a bay only consumes vouchers"}
    if isinstance(op, sm.GateCard) and (chip := _chip_refusal(conn, request.device, op)):
        return chip
    # A refusal leaves nothing behind: a member QR refused here stays unused.
    savepoint = conn.begin_nested()
    try:
        if isinstance(op, sm.UseVoucher):
            done = consume(conn, hub, request.device, op.code)
        else:
            done = consume_shown(conn, hub, request.device, op)
    except GateRefused as exc:
        savepoint.rollback()
        return {"error": exc.error, "message": str(exc)[:500]}
    savepoint.commit()
    return {
        "voucher": done.code,
        "item": done.item,
        "units": done.units,
        "member_id": done.member_id,
        "repeat": done.repeat,
        "used_ms": done.used_ms,
    }
