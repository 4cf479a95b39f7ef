"""One tap, end to end, through real components.

Scenario: a kiosk with the simulated reader. A member taps a smart card; the runtime
checks the issuer signature and the card's answer to a challenge, asks the hub for the
card's snapshot over MQTT 5 request/response, rings up a purchase and a top-up, commits
both to the outbox and says "done" at once. The hub books them in its ledger, the
signed results come back, the outbox entries are done and the cached snapshot shows the
hub's balances. The device's presence and heartbeat reach the hub's registry, and a
clean stop leaves it marked offline.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub import db
from hub.verify import verify_ledger
from tapcard.cards.credential import CredentialError
from tapcard.device.runtime import DeviceRuntime
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.readers.sim import SimCard, SimReader, make_sim_card
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.clock import pinned_today
from tests.device.conftest import Rig, wait_until

MASTER = b"\x11" * 32
UID = bytes.fromhex("04a1b2c3d4e5f6")


def _device_row(rig: Rig, device_id: str) -> sa.Row[tuple[object, ...]]:
    with rig.seeded.hub.engine.connect() as conn:
        return conn.execute(sa.select(db.devices).where(db.devices.c.id == device_id)).one()


def _health(rig: Rig, device_id: str) -> dict[str, object]:
    text = _device_row(rig, device_id).health
    return dict(json.loads(str(text))) if text else {}


def test_tap_purchase_reaches_the_ledger_and_the_cache(rig: Rig) -> None:
    card_id = rig.seeded.cards[0]
    reader = SimReader()
    results: list[m.TxResult] = []
    device = rig.device("kiosk-2", reader=reader)
    device.on_result = results.append
    reader.tap(
        make_sim_card(rig.seeded.hub.secrets.issuer_key, MASTER, card_id, UID, pinned_today())
    )

    assert device.read_card(1000) == card_id
    snapshot, online = device.snapshot(card_id)
    assert online and snapshot is not None and snapshot.found
    assert snapshot.balances == m.Balances(points=0, growth=0, stored_value_cents=0)
    quote = device.quote_sale(snapshot, [SaleLine("grocery", 19_999)])
    assert quote.net_cents == 18_000  # the snapshot's join date: the welcome 10 % applies

    sale = device.purchase(card_id, [SaleLine("grocery", 19_999)], seen=(snapshot, online))
    topup = device.top_up(card_id, 5_000, seen=(snapshot, online))
    assert sale.accepted and not sale.offline and sale.seq == 1
    assert topup.accepted and topup.seq == 2
    assert sale.tx_id is not None and topup.tx_id is not None
    last = device.wait_result(topup.tx_id, 10)
    first = device.wait_result(sale.tx_id, 10)
    assert first is not None and first.accepted
    assert first.net_cents == quote.net_cents  # the device quoted what the hub booked
    assert last is not None and last.accepted
    assert last.balances == m.Balances(points=180, growth=180, stored_value_cents=5_000)
    wait_until(lambda: len(results) == 2, what="result callbacks")

    assert device.store.depth() == 0
    cached = device.store.snapshot(card_id)
    assert cached is not None and cached.balances == last.balances
    assert rig.balances(0) == {"cents": 5_000, "points": 180, "growth": 180}
    with rig.seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []
    wait_until(lambda: _health(rig, "kiosk-2").get("rules_version") == 1, what="heartbeat")
    assert _health(rig, "kiosk-2")["outbox_depth"] == 0
    assert _device_row(rig, "kiosk-2").online
    rig.stop_device(device)
    reader.close()
    wait_until(lambda: not _device_row(rig, "kiosk-2").online, what="offline status")


def test_forged_card_and_unknown_card_are_refused(rig: Rig) -> None:
    from nacl.signing import SigningKey

    reader = SimReader()
    device = rig.device("kiosk-2", reader=reader)
    forged = make_sim_card(SigningKey.generate(), MASTER, rig.seeded.cards[0], UID, pinned_today())
    reader.tap(SimCard(forged.uid, forged.credential, forged.card_seed))
    with pytest.raises(CredentialError):
        device.read_card(500)
    reader.close()
    snapshot, online = device.snapshot("C-NOPE-1")
    assert online and snapshot is not None and not snapshot.found
    refused = device.spend("C-NOPE-1", 100, seen=(snapshot, online))
    assert not refused.accepted and refused.reason == Reason.UNKNOWN_CARD
    assert device.store.depth() == 0 and device.store.seq() == 0


def test_stored_value_purchase_beyond_balance_is_refused_online(rig: Rig) -> None:
    card_id = rig.seeded.cards[1]
    device: DeviceRuntime = rig.device("kiosk-2")
    receipt = device.purchase(card_id, [SaleLine("grocery", 1_000)], payment=Payment.STORED_VALUE)
    assert not receipt.accepted and receipt.reason == Reason.INSUFFICIENT_FUNDS
    status = device.status()
    assert status.link_connected and status.rules_version == 1 and status.outbox_depth == 0
    assert status.reader == "no_reader"


def test_a_card_read_from_another_chip_alerts_hq_through_the_hub(rig: Rig) -> None:
    """The kiosk's own tap path sends the chip's UID with its snapshot query, and the
    hub's router records a suspected clone when the card was issued on another chip."""
    from hub import admin, clones

    issued_uid, seen_uid = "04" + "aa" * 6, UID
    rules = rig.seeded.hub.rules.latest()
    assert rules is not None
    with rig.seeded.hub.transaction() as conn:
        card_id = admin.issue_card(conn, rig.seeded.members[1], rules, "test", uid=issued_uid)
    reader = SimReader()
    device = rig.device("kiosk-2", reader=reader)
    issuer = rig.seeded.hub.secrets.issuer_key
    reader.tap(make_sim_card(issuer, MASTER, card_id, seen_uid, pinned_today()))
    assert device.read_card(1000) == card_id
    snapshot, online = device.snapshot(card_id)
    assert online and snapshot is not None and snapshot.found  # answered as usual
    e = db.exceptions
    with rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.c.card_id, e.c.device_id, e.c.detail).where(
                e.c.kind == clones.EXCEPTION_KIND
            )
        ).all()
    assert [(r.card_id, r.device_id) for r in rows] == [(card_id, "kiosk-2")]
    assert seen_uid.hex() in rows[0].detail and issued_uid in rows[0].detail
    reader.close()
