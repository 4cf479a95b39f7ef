"""Kiosks paired with wash bays: the hub starts the bay when the kiosk sells a wash.

The pairing is registry data at the hub (the settings row `bay.pair.<kiosk>`, set with
`tapcard hub device pair-bay KIOSK BAY --label 2`): a kiosk drives at most one bay, of
its own branch. The kiosk never tells the bay anything. When the hub books a kiosk's
car wash redemption (an intent accepted with a voucher), `starts` consumes the voucher
for the paired bay through the gates' own function (hub/gates.py: the bay's kind,
branch and the voucher's place checked, audited as the bay) and returns `BayStart`,
signed by the hub like every message it publishes, for the bay's topic and the kiosk's.

Once: a resent intent gets the ledger's first answer again, and the bay's own consume
within the retry window is answered `repeat`, so the same start goes out again and the
bay's journal drops it; after the window the voucher is used and nothing goes out. A
start that cannot be made (the bay revoked, the voucher not a wash) is logged and the
voucher stays with the member, as any voucher from a kiosk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, gates
from hub.app import Hub
from hub.ledger import Incoming
from hub.staff_sessions import device_kind_and_branch
from tapcard.domain.model import DeviceKind
from tapcard.domain.rules import CatalogKind
from tapcard.errors import NotFoundError, ValidationError
from tapcard.wire import messages as m
from tapcard.wire.bay_messages import BayStart
from tapcard.wire.topics import Family, device_topic

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "bay.pair."
LABEL_CHARS_MAX: Final = 16


@dataclass(frozen=True, slots=True)
class Pairing:
    kiosk: str
    bay: str
    label: str  # what the member is told: "2" for 2号洗车位 / Bay 2


def pair(conn: Connection, kiosk: str, bay: str, label: str, actor: str) -> Pairing:
    """Pair a kiosk with a wash bay of its branch (replacing an earlier pairing)."""
    from hub.admin.audit import audit
    from hub.admin.settings import set_setting

    of_kiosk, of_bay = device_kind_and_branch(conn, kiosk), device_kind_and_branch(conn, bay)
    if of_kiosk is None or of_bay is None:
        raise NotFoundError(f"no device {kiosk if of_kiosk is None else bay}")
    if of_kiosk[0] != DeviceKind.KIOSK.value or of_bay[0] != DeviceKind.WASH_BAY.value:
        raise ValidationError(f"{kiosk} must be a kiosk and {bay} a wash bay")
    if of_kiosk[1] != of_bay[1]:
        raise ValidationError(f"{kiosk} and {bay} are in different branches")
    label = label.strip() or bay
    if len(label) > LABEL_CHARS_MAX:
        raise ValidationError(f"a bay's label is at most {LABEL_CHARS_MAX} characters")
    set_setting(conn, KEY_PREFIX + kiosk, json.dumps({"bay": bay, "label": label}))
    audit(conn, actor, "bay.pair", kiosk, {"bay": bay, "label": label})
    return Pairing(kiosk, bay, label)


def unpair(conn: Connection, kiosk: str, actor: str) -> bool:
    from hub.admin.audit import audit

    s = db.settings
    gone = conn.execute(s.delete().where(s.c.key == KEY_PREFIX + kiosk)).rowcount or 0
    if gone:
        audit(conn, actor, "bay.unpair", kiosk, {})
    return bool(gone)


def paired(conn: Connection, kiosk: str) -> Pairing | None:
    s = db.settings
    text = conn.execute(sa.select(s.c.value).where(s.c.key == KEY_PREFIX + kiosk)).scalar()
    if text is None:
        return None
    data = json.loads(text)
    return Pairing(kiosk, str(data["bay"]), str(data["label"]))


def pairings(conn: Connection) -> list[Pairing]:
    s = db.settings
    keys = conn.execute(
        sa.select(s.c.key).where(s.c.key.startswith(KEY_PREFIX)).order_by(s.c.key)
    ).scalars()
    found = [paired(conn, key[len(KEY_PREFIX) :]) for key in list(keys)]
    return [p for p in found if p is not None]


def starts(
    hub: Hub, intents: Sequence[Incoming], results: Sequence[m.TxResult]
) -> list[tuple[str, BayStart]]:
    """(topic, start) for each wash a paired kiosk sold in this batch: to the bay, then
    to the kiosk. Called after the batch's ledger transaction committed."""
    sold = {r.tx_id: r for r in results if r.accepted and r.voucher}
    washes = [i for i in intents if i.intent.tx_id in sold and isinstance(i.intent.op, m.Redeem)]
    if not washes:
        return []
    out: list[tuple[str, BayStart]] = []
    for incoming in washes:
        with hub.transaction() as conn:
            pairing = paired(conn, incoming.device_id)
            start = (
                None if pairing is None else _start(conn, hub, pairing, sold[incoming.intent.tx_id])
            )
        if start is not None:
            out += [(device_topic(start.bay, Family.BAY), start),
                    (device_topic(start.kiosk, Family.BAY), start)]  # fmt: skip
    return out


def _start(conn: Connection, hub: Hub, pairing: Pairing, result: m.TxResult) -> BayStart | None:
    savepoint = conn.begin_nested()
    try:
        done = gates.consume(conn, hub, pairing.bay, result.voucher)
    except gates.GateRefused as exc:
        savepoint.rollback()
        if exc.error != "not_allowed":  # not a wash: the kiosk's other rewards
            log.warning("no start of %s for %s: %s", pairing.bay, result.voucher, exc)
        return None
    savepoint.commit()
    if done.kind != CatalogKind.CAR_WASH.value:  # consume checks the kind: never here
        raise AssertionError(f"{done.code} is a {done.kind}")
    return BayStart(
        bay=pairing.bay,
        kiosk=pairing.kiosk,
        voucher=done.code,
        item=done.item,
        units=done.units,
        label=pairing.label,
        issued_ms=done.used_ms,
    )
