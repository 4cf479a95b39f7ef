"""Faults between the device and the hub: nothing accepted is lost, nothing is applied
twice, and what offline decisions get wrong is recorded and bounded.

Scenario: a busy kiosk queues 2,000 top-ups and its power is cut (kill -9) in the
middle; restarted, it carries on, and the hub's ledger holds each of the 2,000 exactly
once. The broker dies and comes back while a counter rings up sales. A branch loses its
network while 500 purchases happen offline; when it returns, all 500 are drained into
the ledger once each. Two kiosks, both offline, let the same member redeem the same
points: the hub books both and records the overdraw as an offline exception, no larger
than the per-card offline cap allows. A card reported lost at HQ is refused at another
online kiosk within 5 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from hub import admin, db
from hub.verify import verify_ledger
from tapcard.clock import ManualClock
from tapcard.device.bundle import BUNDLE_FILE
from tapcard.device.store import DeviceStore
from tapcard.domain.engine import SaleLine
from tapcard.wire.codes import Reason
from tests.clock import pinned_now_ms
from tests.device.conftest import Rig, transfers_of, wait_until

REPO = Path(__file__).resolve().parents[2]
KILL_COUNT = 2_000
PARTITION_SALES = 500
OUTAGE_AGE_S = 90  # how long the test says the queued sales have waited
DENY_WITHIN_S = 5.0


def assert_ledger_clean(rig: Rig) -> None:
    with rig.seeded.hub.engine.connect() as conn:
        report = verify_ledger(conn)
    assert report.errors == []


def _spawn(data_dir: Path, card_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.device.device_proc", str(data_dir), str(KILL_COUNT), card_id],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _read_until(proc: subprocess.Popen[bytes], wanted: str, timeout_s: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode().strip()
        if not line:
            break
        lines.append(line)
        if line == wanted:
            return lines
    raise AssertionError(f"{wanted!r} not seen; got {lines[-5:]}")


def test_kill_9_in_the_middle_of_2000_intents(rig: Rig, tmp_path: Path) -> None:
    card_id = rig.seeded.cards[1]
    data_dir = tmp_path / "proc"
    data_dir.mkdir()
    rig.bundle("kiosk-3")
    (data_dir / BUNDLE_FILE).write_bytes(rig.bundles["kiosk-3"])
    first = _spawn(data_dir, card_id)
    _read_until(first, "queued 1000", 60)
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert first.stdout is not None
    first.stdout.close()
    applied_at_kill = transfers_of(rig, "kiosk-3")
    store = DeviceStore(data_dir)
    queued_at_kill, pending_at_kill = store.seq(), store.depth()
    store.close()
    print(
        f"at the kill: {queued_at_kill} queued, {pending_at_kill} pending, "
        f"{applied_at_kill} applied"
    )
    assert 1_000 <= queued_at_kill < KILL_COUNT

    second = _spawn(data_dir, card_id)
    lines = _read_until(second, "drained", 120)
    assert second.wait(20) == 0, lines
    assert second.stdout is not None
    second.stdout.close()
    assert transfers_of(rig, "kiosk-3") == KILL_COUNT
    assert rig.count(db.results, device_id="kiosk-3") == KILL_COUNT
    assert rig.balances(1)["cents"] == KILL_COUNT  # one cent each, each once
    with rig.seeded.hub.engine.connect() as conn:
        seq_max = conn.execute(
            sa.select(db.devices.c.seq_max).where(db.devices.c.id == "kiosk-3")
        ).scalar_one()
    assert seq_max == KILL_COUNT
    assert_ledger_clean(rig)


def test_broker_dies_and_returns_during_sends(rig: Rig) -> None:
    card = rig.seeded.cards[0]
    device = rig.device("kiosk-2")
    seen = device.snapshot(card)
    receipts = []
    for i in range(300):
        if i == 100:
            rig.broker.stop(kill=True)
            seen = (seen[0], False)
        if i == 200:
            rig.broker.start()
        receipts.append(device.top_up(card, 10, seen=seen))
    assert all(r.accepted for r in receipts)
    assert sum(r.offline for r in receipts) == 200
    wait_until(lambda: device.store.depth() == 0, 60, "outbox drained")
    assert transfers_of(rig, "kiosk-2") == 300
    assert rig.balances(0)["cents"] == 3_000
    assert_ledger_clean(rig)


def test_500_offline_purchases_drain_exactly_once(rig: Rig) -> None:
    card = rig.seeded.cards[0]
    clock = ManualClock(pinned_now_ms())  # the device's clock, moved by the test below
    device = rig.device("kiosk-2", clock=clock)
    device.snapshot(card)
    rig.broker.stop()
    wait_until(lambda: not device.link.connected, what="link down")
    receipts = [
        device.purchase(card, [SaleLine("grocery", 1_000 + i)], receipt_no=f"R{i}")
        for i in range(PARTITION_SALES)
    ]
    assert all(r.accepted and r.offline for r in receipts)
    assert device.store.depth() == PARTITION_SALES
    assert device.status().outbox_oldest_age_s == 0
    clock.advance(OUTAGE_AGE_S * 1000)
    assert device.status().outbox_oldest_age_s == OUTAGE_AGE_S
    rig.broker.start()
    wait_until(lambda: device.store.depth() == 0, 60, "outbox drained")
    assert transfers_of(rig, "kiosk-2") == PARTITION_SALES
    assert rig.count(db.transfers, device_id="kiosk-2", offline=True) == PARTITION_SALES
    results = [device.wait_result(r.tx_id, 1) for r in receipts if r.tx_id]
    assert all(r is not None and r.accepted for r in results)

    # The cache is updated right after the outbox rows are marked done.
    def cache_is_hubs() -> bool:
        cached = device.store.snapshot(card)
        assert cached is not None and cached.balances is not None
        return cached.balances.points == rig.balances(0)["points"]

    wait_until(cache_is_hubs, 5, "cached snapshot = hub balances")
    assert_ledger_clean(rig)


def test_same_points_spent_at_two_offline_kiosks_is_a_bounded_exception(rig: Rig) -> None:
    card = rig.seeded.cards[0]
    first, second = rig.device("kiosk-2"), rig.device("kiosk-3")
    earn = first.purchase(card, [SaleLine("grocery", 222_300)])  # 10 % welcome off: 2,000 points
    assert earn.tx_id is not None
    result = first.wait_result(earn.tx_id, 10)
    assert result is not None and result.balances is not None
    points = result.balances.points
    assert 1_500 <= points < 3_000
    first.snapshot(card)
    second.snapshot(card)
    rig.broker.stop()
    wait_until(lambda: not first.link.connected and not second.link.connected, what="offline")
    assert first.redeem(card, "PRIZE-MUG").accepted  # 1,500 points
    again = first.redeem(card, "PARK-HOUR", units=6)  # 600 more: over the 2,000 a day cap
    assert not again.accepted and again.reason in (
        Reason.LIMIT_EXCEEDED,
        Reason.INSUFFICIENT_POINTS,
    )
    assert second.redeem(card, "PRIZE-MUG").accepted  # the other kiosk cannot know
    rig.broker.start()
    wait_until(lambda: first.store.depth() == 0 and second.store.depth() == 0, 30, "drained")
    with rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.exceptions)).all()
    policy_cap = rig.seeded.hub.rules.latest().offline.card_daily_points_max
    # The hub caps the card's offline day as one device would have: the 1,000 points
    # beyond it are HQ's exception, and the card is overdrawn only below the cap.
    over = [r.amount for r in rows if r.kind == "offline_over_policy"]
    assert over == [3_000 - policy_cap]
    overdrawn = sum(r.amount for r in rows if r.kind == "offline_overdraw")
    assert overdrawn == max(0, policy_cap - points)
    assert rig.balances(0)["points"] == points - policy_cap
    assert_ledger_clean(rig)


def test_card_reported_lost_is_refused_at_another_online_kiosk_within_5_s(rig: Rig) -> None:
    card = rig.seeded.cards[1]
    kiosk = rig.device("kiosk-2")
    cached = kiosk.snapshot(card)
    assert kiosk.top_up(card, 100).accepted
    before = kiosk.denylist_version
    with rig.seeded.hub.transaction() as conn:
        version = admin.report_lost(conn, card, "test")
    started = time.monotonic()
    wait_until(lambda: kiosk.denylist_version == version, DENY_WITHIN_S, "deny list")
    assert version > before
    online = kiosk.top_up(card, 100)
    offline = kiosk.top_up(card, 100, seen=(cached[0], False))  # even from the cache
    assert time.monotonic() - started < DENY_WITHIN_S
    assert not online.accepted and online.reason == Reason.CARD_LOST
    assert not offline.accepted and offline.reason == Reason.CARD_LOST
