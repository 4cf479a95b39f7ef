"""A member's card and the member's dynamic QR at the exit gate, as real processes: the
gate process's simulated reader takes the card's bytes through its socket (as
`tapcard device tap` does), the gate verifies the credential and the card's challenge,
asks the hub on its staff channel, and the hub consumes the member's parking voucher.

Scenario: Li and Ana each hold a 1-hour parking voucher. His card opens the gate once;
tapped again at once, the hub's retry answer does not let a second car through. Her
member QR opens it for her voucher; the same QR again is refused as used. A forged card (a
credential signed by another key) is refused at the gate, the hub never asked; an
unknown card, a card reported lost and a card put on another chip by the issuer's key
are refused by the hub. The relay closed twice in all.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from nacl.signing import SigningKey

from hub import db, member_qr
from hub.admin.cards import report_lost
from tapcard.device.launch import SIM_SOCKET_FILE
from tapcard.domain.model import Asset
from tapcard.readers.sim import SimCard, make_sim_card, send_sim_command
from tapcard.wire import messages as m
from tests.clock import pinned_today
from tests.conftest import credit
from tests.device.conftest import Rig
from tests.device.test_gate_proc import ANSWER_S, Proc, provision, redeem, till
from tests.hub.support import Device

__all__ = ["till"]  # the fixture, used by name

MASTER = b"\x44" * 32
# The gate's reader thread must see the field empty before the next card: a tap at once
# after a removal could land before it looks, and it would wait for a removal forever.
REMOVED_S = 0.3
UID_LI = bytes.fromhex("04a1b2c3d4e5f6")
UID_OTHER = bytes.fromhex("04a1b2c3d4e5f7")
UID_ANA = bytes.fromhex("04a1b2c3d4e5f8")


class CardGate(Proc):
    """The gate process with a reader: a card is put on it and taken off again."""

    def tap(self, card: SimCard) -> dict[str, object]:
        socket = str(self.pins.parent / SIM_SOCKET_FILE)
        deadline = time.monotonic() + ANSWER_S
        while True:  # the reader's socket opens as the process starts
            try:
                assert send_sim_command(socket, card) == "ok"
                break
            except OSError:
                assert time.monotonic() < deadline, "the gate's reader never listened"
                time.sleep(0.1)
        answer = self.line()
        send_sim_command(socket, None)
        time.sleep(REMOVED_S)
        return answer


def card_of(rig: Rig, card_id: str, uid: bytes, key: SigningKey | None = None) -> SimCard:
    issuer = key or rig.seeded.hub.secrets.issuer_key
    return make_sim_card(issuer, MASTER, card_id, uid, pinned_today())


def unused(rig: Rig) -> int:
    v = db.vouchers
    query = sa.select(sa.func.count()).select_from(v).where(v.c.used_ms.is_(None))
    with rig.seeded.hub.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_members_card_and_qr_open_the_gate(rig: Rig, till: Device) -> None:
    hub, li, ana = rig.seeded.hub, rig.seeded.cards[0], rig.seeded.cards[1]
    redeem(rig, till, "PARK-HOUR")
    credit(hub, rig.seeded.members[1], Asset.POINTS, 10_000)
    [result] = hub.ledger.apply_batch([till.incoming(ana, m.Redeem(item="PARK-HOUR"))])
    assert result.accepted, result.message
    with hub.transaction() as conn:  # Li's card was issued on his chip
        conn.execute(db.cards.update().where(db.cards.c.id == li).values(uid=UID_LI.hex()))
    gate = CardGate(provision(rig, "gate-1", "gate"), hold_s=0.1)
    try:
        assert gate.line()["ready"] == "gate-1"
        gate.ask("WARM-UP")  # answered once the gate reaches the hub
        opened = gate.tap(card_of(rig, li, UID_LI))
        assert (opened["ok"], opened["item"], opened["units"]) == (True, "PARK-HOUR", 1)
        assert gate.closes() == 1 and unused(rig) == 1
        again = gate.tap(card_of(rig, li, UID_LI))  # the hub's retry answer: not a 2nd car
        assert (again["ok"], again["error"]) == (False, "already_used") and gate.closes() == 1
        code = member_qr.make(hub.secrets, ana, hub.clock.now_ms()).text
        by_qr = gate.ask(code)
        assert by_qr["ok"] and by_qr["voucher"] == result.voucher and gate.closes() == 2
        assert gate.ask(code)["error"] == "qr_used"
        forged = gate.tap(card_of(rig, li, UID_LI, SigningKey.generate()))
        assert forged["error"] == "card_refused"
        assert gate.tap(card_of(rig, "C999999", UID_OTHER))["error"] == "card_unknown"
        with hub.transaction() as conn:
            report_lost(conn, ana, "test")
        assert gate.tap(card_of(rig, ana, UID_ANA))["error"] == "card_not_active"
        moved = gate.tap(card_of(rig, li, UID_OTHER))  # signed, but not on Li's chip
        assert moved["error"] == "card_not_genuine"
        assert gate.closes() == 2 and unused(rig) == 0
    finally:
        gate.stop()
    with hub.engine.connect() as conn:
        kinds = conn.execute(sa.select(db.exceptions.c.kind, db.exceptions.c.card_id)).all()
    assert [tuple(row) for row in kinds] == [("suspected_clone", li)]
