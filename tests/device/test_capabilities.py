"""The device keeps to the hub's capability table and counts days in the rules' zone.

Scenario: a kiosk may only redeem (the sample table), so a kiosk offered a top-up or a
stored-value sale refuses it before anything is queued, online or offline, with the
reason the hub would give; a terminal takes the same top-up, and one past the table's
bound is refused as the hub would. The daily offline caps and the quote day are the
business day of the rule set (Asia/Shanghai): a spend at 23:59 and one at 00:01 local
time count on two days, though both fall on one UTC day.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tapcard.device import policy
from tapcard.device.store import DayCounters
from tapcard.domain.authority import TOPUP_CENTS_MAX_DEFAULT
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import DeviceKind, Payment
from tapcard.samples import load_sample_rules
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.device.conftest import Rig, bundle_json

# 2026-06-10 15:59 UTC is 23:59 in Shanghai; two minutes later it is the 11th there.
SHANGHAI_LATE_MS = int(dt.datetime(2026, 6, 10, 15, 59, tzinfo=dt.UTC).timestamp()) * 1000
MINUTE_MS = 60_000
FRESH = DayCounters(card_points=0, card_cents=0, device_cents=0)


def _snapshot(as_of_ms: int) -> m.Snapshot:
    return m.Snapshot(
        card_id="C1",
        found=True,
        state="active",
        balances=m.Balances(points=5_000, growth=0, stored_value_cents=50_000),
        expires_on=dt.date(2030, 1, 1),
        as_of_ms=as_of_ms,
    )


def _decide(
    op: m.AnyOp, device: DeviceKind, online: bool = False, counters: DayCounters = FRESH
) -> policy.Verdict:
    rules = load_sample_rules()
    return policy.decide(
        rules=rules,
        snapshot=_snapshot(SHANGHAI_LATE_MS - MINUTE_MS),
        online=online,
        denied=(),
        op=op,
        card_id="C1",
        counters=counters,
        now_ms=SHANGHAI_LATE_MS,
        today=policy.business_day(rules, SHANGHAI_LATE_MS),
        device=device,
        branch="shop-1",
    )


@pytest.mark.parametrize("online", [True, False], ids=["online", "offline"])
def test_a_kiosk_refuses_what_the_table_forbids_it(online: bool) -> None:
    sale = m.Purchase(lines=[SaleLine("grocery", 1_000)], payment=Payment.STORED_VALUE)
    for op in (m.TopUp(amount_cents=10_000), m.Spend(amount_cents=1_000), sale):
        verdict = _decide(op, DeviceKind.KIOSK, online)
        assert not verdict.accepted and verdict.reason == Reason.DEVICE_NOT_ALLOWED, op
        assert verdict.message.startswith("a kiosk may not send")
        assert verdict.cost == policy.Cost()  # nothing counted against the day's caps
    assert _decide(m.Redeem(item="PARK-HOUR", units=1), DeviceKind.KIOSK, online).accepted


def test_a_terminal_tops_up_within_the_tables_bound_only() -> None:
    assert _decide(m.TopUp(amount_cents=10_000), DeviceKind.TERMINAL).accepted
    over = _decide(m.TopUp(amount_cents=TOPUP_CENTS_MAX_DEFAULT + 1), DeviceKind.TERMINAL)
    assert not over.accepted and over.reason == Reason.AMOUNT_NOT_ALLOWED


def test_the_business_day_is_the_rules_time_zone() -> None:
    rules = load_sample_rules()
    assert rules.time_zone == "Asia/Shanghai"
    late = policy.business_day(rules, SHANGHAI_LATE_MS)
    early = policy.business_day(rules, SHANGHAI_LATE_MS + 2 * MINUTE_MS)
    assert (late, early) == (dt.date(2026, 6, 10), dt.date(2026, 6, 11))
    utc = dt.datetime.fromtimestamp((SHANGHAI_LATE_MS + 2 * MINUTE_MS) / 1000, tz=dt.UTC)
    assert utc.date() == dt.date(2026, 6, 10)  # the UTC day has not turned yet


@pytest.fixture
def kiosk_rig(rig: Rig) -> Rig:
    """The rig with kiosk-7 registered at the hub as a kiosk (bundle and registry agree)."""
    rig.bundles["kiosk-7"] = bundle_json(rig.seeded, "kiosk-7", rig.broker, kind="kiosk")
    return rig


def test_a_kiosk_runtime_queues_nothing_it_may_not_send(kiosk_rig: Rig) -> None:
    """The whole path: the runtime refuses before the outbox; what it may send goes."""
    runtime = kiosk_rig.device("kiosk-7")
    card = kiosk_rig.seeded.cards[0]
    refused = runtime.top_up(card, 10_000)
    assert not refused.accepted and refused.reason == Reason.DEVICE_NOT_ALLOWED
    assert refused.seq == 0 and refused.tx_id is None
    assert runtime.store.counts() == {} and runtime.store.seq() == 0
    redeemed = runtime.redeem(card, "PARK-HOUR", 1)  # the seeded card has no points yet
    assert redeemed.reason == Reason.INSUFFICIENT_POINTS and runtime.store.seq() == 0
