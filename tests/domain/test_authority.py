"""The authority rules as pure functions: the capability table, the offline caps that
device and hub share (and the device's policy applying them), and the hub's time.

Scenario: the test chain's rules with and without a table; a kiosk and a terminal at
shop-1 and shop-2; a card and a device part way through an offline day; intents dated
inside and outside their offline window, around midnight in Shanghai.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from tapcard.device import policy
from tapcard.device.store import DayCounters
from tapcard.domain import authority
from tapcard.domain.authority import DenialKind, OfflineRoom
from tapcard.domain.model import DeviceKind, Payment, TxKind
from tapcard.domain.rules import SEQ_AHEAD_MAX, Capability, OfflinePolicy, validate_rules
from tapcard.samples import load_sample_rules
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.domain.helpers import make_rules

KIOSK, TERMINAL = DeviceKind.KIOSK, DeviceKind.TERMINAL
POLICY = OfflinePolicy(
    card_daily_points_max=2_000, card_daily_cents_max=20_000, device_daily_cents_max=50_000
)


@dataclasses.dataclass
class Used:
    card_points: int = 0
    card_cents: int = 0
    device_cents: int = 0


def denial(
    caps: tuple[Capability, ...] | None,
    *,
    device: DeviceKind = TERMINAL,
    branch: str = "shop-1",
    operation: TxKind = TxKind.TOPUP,
    tender: Payment | None = Payment.CASH,
    amount_cents: int = 1_000,
) -> authority.Denial | None:
    return authority.capability_denial(
        make_rules(capabilities=caps),
        device=device,
        branch=branch,
        operation=operation,
        tender=tender,
        amount_cents=amount_cents,
    )


def test_defaults_apply_when_the_table_is_absent() -> None:
    assert denial(None) is None
    refused = denial(None, device=KIOSK)
    assert refused is not None and refused.kind is DenialKind.OPERATION
    assert "kiosk may not send topup by cash at branch shop-1" in refused.message
    over = denial(None, amount_cents=authority.TOPUP_CENTS_MAX_DEFAULT + 1)
    assert over is not None and over.kind is DenialKind.AMOUNT
    assert denial(None, device=KIOSK, operation=TxKind.REDEEM, tender=None) is None
    assert authority.stored_value_cap(make_rules()) == authority.STORED_VALUE_CENTS_MAX_DEFAULT


def test_an_empty_table_allows_nothing() -> None:
    refused = denial((), operation=TxKind.REDEEM, tender=None)
    assert refused is not None and refused.kind is DenialKind.OPERATION


def test_rows_match_by_tender_and_branch_and_the_widest_bound_wins() -> None:
    caps = (
        Capability(TERMINAL, TxKind.PURCHASE, Payment.CASH, amount_cents_max=5_000),
        Capability(TERMINAL, TxKind.PURCHASE, Payment.CASH, ("shop-2",), amount_cents_max=9_000),
        Capability(TERMINAL, TxKind.TOPUP, branches=("shop-2",)),
    )
    sale = TxKind.PURCHASE
    assert denial(caps, operation=sale, amount_cents=5_000) is None
    at_one = denial(caps, operation=sale, amount_cents=9_000)
    assert at_one is not None and at_one.kind is DenialKind.AMOUNT and "5000" in at_one.message
    assert denial(caps, operation=sale, amount_cents=9_000, branch="shop-2") is None
    by_card = denial(caps, operation=sale, tender=Payment.STORED_VALUE)
    assert by_card is not None and by_card.kind is DenialKind.OPERATION
    elsewhere = denial(caps)
    assert elsewhere is not None and elsewhere.kind is DenialKind.OPERATION
    assert denial(caps, branch="shop-2", amount_cents=99_999_999) is None  # 0: no bound


def test_the_sample_table_lets_kiosks_only_redeem() -> None:
    rules = load_sample_rules()
    assert validate_rules(rules) == []
    kiosk_ops = {c.operation for c in rules.capabilities or () if c.device is KIOSK}
    assert kiosk_ops == {TxKind.REDEEM}
    assert authority.stored_value_cap(rules) == 500_000
    assert rules.time_zone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone 'Mars/Olympus' is not a known zone"),
        ({"stored_value_cents_max": 0}, "stored_value_cents_max must be >= 1"),
        (
            {"capabilities": (Capability(KIOSK, TxKind.REVERSAL),)},
            "capability kiosk/reversal: devices never send reversal",
        ),
        (
            {"capabilities": (Capability(KIOSK, TxKind.REDEEM, amount_cents_max=-1),)},
            "capability kiosk/redeem: amount_cents_max must be >= 0",
        ),
        (
            {"offline": OfflinePolicy(outbox_len_max=SEQ_AHEAD_MAX + 1)},
            f"offline.outbox_len_max cannot exceed {SEQ_AHEAD_MAX}",
        ),
    ],
)
def test_bad_authority_settings_are_refused(change: dict[str, object], error: str) -> None:
    assert error in "; ".join(validate_rules(make_rules(**change)))


# --- the offline caps --------------------------------------------------------------------


def test_device_and_hub_share_the_offline_caps() -> None:
    used = Used(card_points=1_500, card_cents=15_000, device_cents=40_000)
    assert authority.offline_room(POLICY, used) == OfflineRoom(cents=5_000, points=500)
    assert authority.offline_limit_error(POLICY, used, 5_000, 500) == ""
    assert "2000 points a day" in authority.offline_limit_error(POLICY, used, 0, 501)
    assert "20000 cents a day" in authority.offline_limit_error(POLICY, used, 5_001, 0)
    busy = Used(device_cents=48_000)
    assert "device may take 50000" in authority.offline_limit_error(POLICY, busy, 5_000, 0)
    assert authority.offline_room(POLICY, busy).cents == 2_000
    spent = Used(card_points=9_999, card_cents=99_999)
    assert authority.offline_room(POLICY, spent) == OfflineRoom(0, 0)  # never negative


def test_the_hub_never_takes_a_balance_below_the_floor() -> None:
    floor = authority.offline_balance_floor(POLICY)
    assert floor == OfflineRoom(cents=-20_000, points=-2_000)
    fresh = Used()
    assert authority.offline_chargeable(POLICY, fresh, 0, 0) == OfflineRoom(20_000, 2_000)
    overdrawn = authority.offline_chargeable(POLICY, fresh, -15_000, -1_900)
    assert overdrawn == OfflineRoom(cents=5_000, points=100)
    assert authority.offline_chargeable(POLICY, fresh, -30_000, 0).cents == 0


# --- the hub's time ----------------------------------------------------------------------

ARRIVAL_MS = 1_781_071_200_000  # 2026-06-10 06:00 UTC, 14:00 in Shanghai
HOUR_MS = 3_600_000


def test_online_intents_happen_when_they_arrive() -> None:
    window = authority.offline_window_ms(POLICY, ARRIVAL_MS, 0)
    when = authority.hub_time_ms(offline=False, created_ms=0, arrival_ms=ARRIVAL_MS, window=window)
    assert when == authority.HubTime(ARRIVAL_MS, False)


def test_offline_intents_keep_their_time_only_within_the_window() -> None:
    age_ms = POLICY.cache_age_s_max * 1000
    window = authority.offline_window_ms(POLICY, ARRIVAL_MS, 0)
    assert window == (ARRIVAL_MS - age_ms, ARRIVAL_MS)

    def at(created_ms: int) -> authority.HubTime:
        return authority.hub_time_ms(
            offline=True, created_ms=created_ms, arrival_ms=ARRIVAL_MS, window=window
        )

    assert at(ARRIVAL_MS - HOUR_MS) == authority.HubTime(ARRIVAL_MS - HOUR_MS, False)
    assert at(ARRIVAL_MS - age_ms) == authority.HubTime(ARRIVAL_MS - age_ms, False)
    assert at(0) == authority.HubTime(ARRIVAL_MS - age_ms, True)
    assert at(ARRIVAL_MS + HOUR_MS) == authority.HubTime(ARRIVAL_MS, True)
    provisioned = ARRIVAL_MS - HOUR_MS
    late = authority.offline_window_ms(POLICY, ARRIVAL_MS, provisioned)
    assert late == (provisioned, ARRIVAL_MS)
    ahead = authority.offline_window_ms(POLICY, ARRIVAL_MS, ARRIVAL_MS + HOUR_MS)
    assert ahead == (ARRIVAL_MS, ARRIVAL_MS)  # a provisioning clock ahead: an empty window


def test_the_business_day_is_the_rule_sets_zone() -> None:
    shanghai_midnight = int(dt.datetime(2026, 6, 10, 16, tzinfo=dt.UTC).timestamp() * 1000)
    assert authority.business_date(shanghai_midnight - 1, "Asia/Shanghai") == dt.date(2026, 6, 10)
    assert authority.business_date(shanghai_midnight, "Asia/Shanghai") == dt.date(2026, 6, 11)
    assert authority.business_date(shanghai_midnight, "UTC") == dt.date(2026, 6, 10)
    start = authority.business_day_start_ms(dt.date(2026, 6, 11), "Asia/Shanghai")
    assert start == shanghai_midnight


# --- the device's own policy uses the same rules ------------------------------------------


def _verdict(op: m.AnyOp, online: bool, held_cents: int, used: DayCounters) -> policy.Verdict:
    rules = load_sample_rules()
    snapshot = m.Snapshot(
        card_id="C1",
        found=True,
        state="active",
        balances=m.Balances(points=5_000, growth=0, stored_value_cents=held_cents),
        expires_on=dt.date(2030, 1, 1),
        as_of_ms=ARRIVAL_MS - HOUR_MS,
    )
    return policy.decide(
        rules=rules,
        snapshot=snapshot,
        online=online,
        denied=(),
        op=op,
        card_id="C1",
        counters=used,
        now_ms=ARRIVAL_MS,
        today=dt.date(2026, 6, 10),
    )


def test_the_device_caps_itself_offline_by_the_shared_rule() -> None:
    # The device refuses a top-up past the stored-value policy as the hub does (the
    # kiosk's 1-cent probe takes that refusal as "fine to look at": tapcard/ui/kiosk.py).
    fresh = DayCounters(card_points=0, card_cents=0, device_cents=0)
    at_cap = _verdict(m.TopUp(amount_cents=1), False, 100_000, fresh)
    assert not at_cap.accepted and at_cap.reason == Reason.STORED_VALUE_CAP
    assert _verdict(m.TopUp(amount_cents=1), False, 99_999, fresh).accepted
    near_day_cap = DayCounters(card_points=1_500, card_cents=0, device_cents=0)
    mug = m.Redeem(item="PRIZE-MUG", units=1)  # 1,500 points: over the 2,000 a day offline
    offline = _verdict(mug, False, 0, near_day_cap)
    assert not offline.accepted and offline.reason == Reason.LIMIT_EXCEEDED
    assert offline.message == "offline a card may redeem 2000 points a day"
    assert _verdict(mug, True, 0, near_day_cap).accepted  # online the hub decides
