"""The stored-value policy: a per-card and a per-top-up cap, higher for members
registered by real name; one check (`topup_refusal`) for the hub and the device."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from tapcard.device import policy
from tapcard.device.store import DayCounters
from tapcard.domain import authority
from tapcard.domain.rules import RuleSet, StoredValuePolicy, validate_rules
from tapcard.samples import load_sample_rules
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.domain.helpers import make_rules

POLICY = StoredValuePolicy(
    card_cents_max=100_000,
    topup_cents_max=50_000,
    real_name_card_cents_max=500_000,
    real_name_topup_cents_max=200_000,
)
NOW_MS = 1_780_000_000_000


def refusal(real_name: bool, balance_cents: int, amount_cents: int) -> str:
    rules = make_rules(stored_value=POLICY)
    return authority.topup_refusal(
        rules, real_name=real_name, balance_cents=balance_cents, amount_cents=amount_cents
    )


def test_an_anonymous_member_is_held_to_the_lower_caps() -> None:
    assert refusal(False, 0, 50_000) == ""
    assert refusal(False, 0, 50_001) == (
        "one top-up for a member without real name is at most 50000 cents"
    )
    assert refusal(False, 60_000, 40_000) == ""  # exactly the card cap
    assert refusal(False, 60_000, 40_001) == (
        "a card of a member without real name may hold at most 100000 cents"
    )


def test_a_member_registered_by_real_name_gets_the_higher_caps() -> None:
    assert refusal(True, 0, 200_000) == ""
    assert "at most 200000 cents" in refusal(True, 0, 200_001)
    assert refusal(True, 300_000, 200_000) == ""
    assert refusal(True, 300_001, 200_000) == (
        "a card of a member registered by real name may hold at most 500000 cents"
    )


def test_a_rule_set_from_before_the_policy_keeps_its_one_cap() -> None:
    old = make_rules(stored_value_cents_max=300_000)
    derived = authority.stored_value_policy(old)
    assert derived.card_cents_max == derived.real_name_card_cents_max == 300_000
    assert derived.topup_cents_max == authority.TOPUP_CENTS_MAX_DEFAULT
    assert authority.stored_value_cap(old) == 300_000
    plain = authority.stored_value_policy(make_rules())
    assert plain.card_cents_max == authority.STORED_VALUE_CENTS_MAX_DEFAULT
    # JSON stored before the field existed still decodes, without a policy.
    body = msgspec.json.encode(make_rules(stored_value_cents_max=300_000))
    legacy = msgspec.json.decode(body.replace(b',"stored_value":null', b""), type=RuleSet)
    assert legacy.stored_value is None and legacy.stored_value_cents_max == 300_000


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        (
            make_rules(stored_value=POLICY, stored_value_cents_max=1),
            "give stored_value or stored_value_cents_max, not both",
        ),
        (
            make_rules(stored_value=StoredValuePolicy(card_cents_max=0)),
            "stored_value.card_cents_max must be >= 1",
        ),
        (
            make_rules(stored_value=StoredValuePolicy(real_name_card_cents_max=50_000)),
            "stored_value.real_name_card_cents_max cannot be below card_cents_max",
        ),
        (
            make_rules(stored_value=StoredValuePolicy(real_name_topup_cents_max=1)),
            "stored_value.real_name_topup_cents_max cannot be below topup_cents_max",
        ),
    ],
)
def test_an_unsound_policy_is_refused(rules: RuleSet, error: str) -> None:
    assert error in validate_rules(rules)


def test_the_sample_rules_follow_the_prepaid_card_bounds() -> None:
    rules = load_sample_rules()
    assert validate_rules(rules) == []
    assert rules.stored_value == StoredValuePolicy(100_000, 100_000, 500_000, 500_000)


def _device(real_name: bool, held_cents: int, amount_cents: int, online: bool) -> policy.Verdict:
    snapshot = m.Snapshot(
        card_id="C1",
        found=True,
        state="active",
        balances=m.Balances(points=0, growth=0, stored_value_cents=held_cents),
        expires_on=dt.date(2030, 1, 1),
        as_of_ms=NOW_MS - 60_000,
        real_name=real_name,
    )
    return policy.decide(
        rules=make_rules(stored_value=POLICY),
        snapshot=snapshot,
        online=online,
        denied=(),
        op=m.TopUp(amount_cents=amount_cents),
        card_id="C1",
        counters=DayCounters(card_points=0, card_cents=0, device_cents=0),
        now_ms=NOW_MS,
        today=dt.date(2026, 6, 10),
    )


@pytest.mark.parametrize("online", [False, True])
def test_the_device_refuses_the_same_from_the_snapshot(online: bool) -> None:
    over_topup = _device(False, 0, 50_001, online)
    assert not over_topup.accepted and over_topup.reason == Reason.STORED_VALUE_CAP
    assert over_topup.offline is not online
    assert "one top-up" in over_topup.message
    assert _device(True, 0, 50_001, online).accepted  # real name: the higher cap
    over_card = _device(True, 450_000, 50_001, online)
    assert over_card.reason == Reason.STORED_VALUE_CAP and "may hold" in over_card.message
    assert _device(False, 99_000, 1_000, online).accepted


def test_old_snapshot_bytes_decode_without_real_name() -> None:
    new = m.Snapshot(card_id="C1", found=True, real_name=True)
    raw = msgspec.json.encode(new).replace(b',"real_name":true', b"")
    assert b"real_name" not in raw
    assert msgspec.json.decode(raw, type=m.Snapshot).real_name is False
