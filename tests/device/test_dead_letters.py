"""Intents the hub sets aside go to the device's dead-letter list, on real mosquitto.

Scenario: the hub's ledger has a bug that fails on one intent (faked where the router
calls it). The device sends it; the hub poisons it after POISON_ATTEMPTS_MAX tries,
stores a SET_ASIDE answer as its result (nothing booked) and sends that back. The
device moves the entry to its dead-letter list, raises the `dead_letter` alarm in
Health and never sends it again; its next intent is booked, and the hub's gap report
lists nothing: the set-aside seq counts as used. After a restart of the device the
list and the alarm are still there. Then a device signs an intent whose body the
schema refuses: set aside the same way; an unsigned copy is refused and consumes
nothing, and one with a seq beyond the window is refused and not recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db, reports
from hub.ledger import Incoming
from hub.service import POISON_ATTEMPTS_MAX
from tapcard.device import link
from tapcard.device.scripted import ScriptedDevice
from tapcard.domain.rules import SEQ_AHEAD_MAX
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.topics import Family, device_topic
from tests.device.conftest import Rig, wait_until
from tests.hub.support import purchase
from tests.wire.support import seal_raw

REPO = Path(__file__).resolve().parents[2]
RESEND_WAIT_S = 7.0  # past the patched RESEND_AFTER_S twice over


def _result_rows(rig: Rig, device_id: str) -> list[tuple[int, int, bool]]:
    r = db.results
    with rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(r.c.seq, r.c.reason, r.c.accepted)
            .where(r.c.device_id == device_id)
            .order_by(r.c.seq)
        )
        return [(int(a), int(b), bool(c)) for a, b, c in rows]


def _gaps(rig: Rig) -> list[dict[str, object]]:
    with rig.seeded.hub.engine.connect() as conn:
        return reports.sequence_gaps(conn)


@pytest.mark.no_fail_on_log_exception  # the poisoned message is logged with its traceback
def test_a_poisoned_intent_is_dead_lettered_and_never_resent(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison_card, good_card = rig.seeded.cards[1], rig.seeded.cards[0]
    real = rig.seeded.hub.ledger.apply_batch
    calls: list[int] = []

    def apply_with_a_bug(batch: list[Incoming]) -> list[m.TxResult]:
        if any(i.intent.card_id == poison_card for i in batch):
            calls.append(len(batch))
            raise RuntimeError("a ledger bug, faked")
        return real(batch)

    monkeypatch.setattr(rig.seeded.hub.ledger, "apply_batch", apply_with_a_bug)
    device = rig.device("kiosk-2")
    version = device.rules_version
    bad = device.outbox.add(poison_card, purchase(100), version, offline=False)
    device.link.kick()
    wait_until(lambda: device.store.dead_letter_count() == 1, what="the dead letter")
    assert link.ALARM_DEAD_LETTER in device.health().alarms
    letter = device.store.dead_letters()[0]
    assert letter.tx_id == str(bad.tx_id) and letter.seq == bad.seq == 1
    assert json.loads(letter.result)["reason"] == Reason.SET_ASIDE
    assert device.store.depth() == 0 and device.link.inflight() == 0
    tries = len(calls)
    assert tries >= POISON_ATTEMPTS_MAX
    time.sleep(RESEND_WAIT_S)  # a resend would be poisoned again: the bug sees none
    assert len(calls) == tries and device.link.counters.get("resent", 0) == 0
    good = device.outbox.add(good_card, purchase(100), version, offline=False)
    device.link.kick()
    result = device.wait_result(good.tx_id, 10.0)
    assert result is not None and result.reason != Reason.SET_ASIDE
    rows = _result_rows(rig, "kiosk-2")
    assert rows[0] == (1, Reason.SET_ASIDE, False) and rows[1][0] == 2
    assert rig.count(db.transfers, device_id="kiosk-2") == (1 if result.accepted else 0)
    assert [g for g in _gaps(rig) if g["device"] == "kiosk-2"] == []
    rig.stop_device(device)
    again = rig.device("kiosk-2")  # the same data folder: as after a restart
    assert link.ALARM_DEAD_LETTER in again.health().alarms
    assert [d.tx_id for d in again.store.dead_letters()] == [str(bad.tx_id)]
    _review_and_clear(again.data_dir, str(bad.tx_id), poison_card)
    assert again.store.dead_letter_count() == 0
    assert link.ALARM_DEAD_LETTER not in again.health().alarms  # no restart needed


def _tapcard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "device", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _review_and_clear(data_dir: Path, tx_id: str, card_id: str) -> None:
    """The person on site lists the dead letters, then clears the one they took up."""
    data = ("--data", str(data_dir))
    table = _tapcard("dead-letters", *data)
    assert table.returncode == 0, table.stderr
    assert tx_id in table.stdout and card_id in table.stdout and "Traceback" not in table.stdout
    listed = json.loads(_tapcard("dead-letters", "--json", *data).stdout)
    assert [(d["tx_id"], d["result"]["reason"]) for d in listed] == [(tx_id, Reason.SET_ASIDE)]
    unasked = _tapcard("dead-letters", "--clear", tx_id, *data)  # no terminal, no --yes
    assert unasked.returncode == 1 and "--yes" in unasked.stderr
    unknown = _tapcard("dead-letters", "--clear", str(uuid.uuid4()), "--yes", *data)
    assert unknown.returncode == 1 and "no dead letter" in unknown.stderr
    cleared = _tapcard("dead-letters", "--clear", tx_id, "--yes", *data)
    assert cleared.returncode == 0 and "cleared 1" in cleared.stdout
    assert "no dead letters" in _tapcard("dead-letters", *data).stdout


def test_a_signed_body_the_schema_refuses_is_set_aside(rig: Rig) -> None:
    seeded = rig.seeded
    scripted = ScriptedDevice(
        seeded.device_id,
        seeded.device_key,
        seeded.hub.secrets.hub_key.verify_key,
        rig.broker.host,
        rig.broker.port,
    )
    topic = device_topic(seeded.device_id, Family.TX)

    def body(tx_id: uuid.UUID, seq: int) -> bytes:
        fields = {"v": 1, "tx_id": str(tx_id), "device": seeded.device_id, "seq": seq}
        return json.dumps({**fields, "card_id": seeded.cards[0], "op": {"kind": "nope"}}).encode()

    try:
        unsigned = uuid.uuid4()
        forged = seal_raw(seeded.device_key, seeded.device_id, topic, body(unsigned, 1), sig="AA==")
        scripted.publish_raw(Family.TX, forged)
        assert scripted.wait(unsigned).reason == Reason.BAD_SIGNATURE
        assert _result_rows(rig, seeded.device_id) == []  # nothing consumed
        signed = uuid.uuid4()
        scripted.publish_raw(
            Family.TX, seal_raw(seeded.device_key, seeded.device_id, topic, body(signed, 1))
        )
        answer = scripted.wait(signed)
        assert answer.reason == Reason.SET_ASIDE and not answer.accepted
        assert "schema" in answer.message or "refused" in answer.message
        far = uuid.uuid4()
        far_seq = 2 + SEQ_AHEAD_MAX + 1
        scripted.publish_raw(
            Family.TX, seal_raw(seeded.device_key, seeded.device_id, topic, body(far, far_seq))
        )
        assert scripted.wait(far).reason == Reason.SCHEMA  # refused, not recorded
        scripted.publish_raw(
            Family.TX, seal_raw(seeded.device_key, seeded.device_id, topic, body(signed, 1))
        )
        time.sleep(0.5)  # the resend gets the stored answer again
    finally:
        scripted.close()
    assert _result_rows(rig, seeded.device_id) == [(1, Reason.SET_ASIDE, False)]
    assert [g for g in _gaps(rig) if g["device"] == seeded.device_id] == []
    assert rig.count(db.transfers) == 0
