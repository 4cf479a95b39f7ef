"""Targeted campaigns: every limit on its own (segment, branch, window, budget cap hit
exactly, per-member limit, hold-out), for each kind (满减, percent off, gift, double
points, new member), and the validation that refuses unsound targeting.

Scenario: a ¥300 grocery sale at shop-1 by a regular member who joined long ago; the
campaigns run all of 2026 unless a test says otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tapcard.domain.engine import MemberContext, SaleQuote, quote_sale
from tapcard.domain.rules import Campaign, CampaignKind, Multiplier, validate_rules
from tapcard.domain.targeting import Room, room_of

from .helpers import D, line, make_rules, member

ON = D(2026, 6, 10)
SALE = [line(30_000)]


def campaign(code: str, kind: CampaignKind, **fields: Any) -> Campaign:
    base = Campaign(code, kind, starts_on=D(2026, 1, 1), ends_on=D(2026, 12, 31))
    return dataclasses.replace(base, **fields)


SPEND_100_GET_10 = campaign(
    "S100", CampaignKind.SPEND_GET_OFF, min_spend_cents=10_000, off_cents=1_000, repeat=True
)
TWENTY_PCT = campaign("P20", CampaignKind.PERCENT_OFF, percent_bp=2_000)
WELCOME = campaign("NEW", CampaignKind.NEW_MEMBER, percent_bp=1_000, new_member_days=30)
TOTE = campaign("TOTE", CampaignKind.GIFT, min_spend_cents=10_000, gift="tote", gift_cost_cents=800)
DOUBLE = campaign("X2", CampaignKind.DOUBLE_POINTS, factor_pct=200)
# What each kind gives on the sale when nothing limits it: (discount, gifts, points).
KINDS = [
    (SPEND_100_GET_10, 3_000, (), 270),
    (TWENTY_PCT, 6_000, (), 240),
    (TOTE, 0, ("tote",), 300),
    (DOUBLE, 0, (), 600),
]


def quote(
    c: Campaign,
    who: MemberContext | None = None,
    room: dict[str, Room] | None = None,
    on: Any = ON,
    **rules: Any,
) -> SaleQuote:
    ctx = who or dataclasses.replace(member(), branch="shop-1")
    return quote_sale(make_rules(campaigns=(c,), **rules), ctx, SALE, on, room=room)


def given(q: SaleQuote) -> tuple[int, tuple[str, ...], int]:
    return q.campaign_discount_cents, q.gifts, q.points


def in_segment(*codes: str, branch: str = "shop-1") -> MemberContext:
    return dataclasses.replace(member(), segments=frozenset(codes), branch=branch)


NOTHING = (0, (), 300)


@pytest.mark.parametrize(("c", "off", "gifts", "points"), KINDS)
def test_each_kind_reaches_its_segment_only(
    c: Campaign, off: int, gifts: tuple[str, ...], points: int
) -> None:
    targeted = dataclasses.replace(c, segment="vip")
    assert given(quote(targeted, in_segment("vip", "lapsed"))) == (off, gifts, points)
    assert given(quote(targeted, in_segment("lapsed"))) == NOTHING
    assert given(quote(c, in_segment())) == (off, gifts, points)  # untargeted: everyone


def test_new_member_campaign_in_a_segment() -> None:
    targeted = dataclasses.replace(WELCOME, segment="vip")
    fresh = dataclasses.replace(in_segment("vip"), joined_on=D(2026, 6, 1))
    assert quote(targeted, fresh).campaign_discount_cents == 3_000
    assert quote(targeted, dataclasses.replace(fresh, segments=frozenset())).campaigns == ()


@pytest.mark.parametrize(("c", "off", "gifts", "points"), KINDS)
def test_each_kind_at_its_branches_only(
    c: Campaign, off: int, gifts: tuple[str, ...], points: int
) -> None:
    there = dataclasses.replace(c, branches=("shop-1", "shop-3"))
    assert given(quote(there, in_segment(branch="shop-3"))) == (off, gifts, points)
    assert given(quote(there, in_segment(branch="shop-2"))) == NOTHING
    assert given(quote(there, in_segment(branch=""))) == NOTHING  # a sale of no branch


@pytest.mark.parametrize(("c", "off", "gifts", "points"), KINDS)
def test_each_kind_within_its_dates_only(
    c: Campaign, off: int, gifts: tuple[str, ...], points: int
) -> None:
    june = dataclasses.replace(c, starts_on=D(2026, 6, 1), ends_on=D(2026, 6, 30))
    assert given(quote(june, on=D(2026, 6, 1))) == (off, gifts, points)
    assert given(quote(june, on=D(2026, 6, 30))) == (off, gifts, points)
    assert given(quote(june, on=D(2026, 5, 31))) == NOTHING
    assert given(quote(june, on=D(2026, 7, 1))) == NOTHING


def test_a_discount_is_trimmed_to_hit_its_budget_exactly_then_stops() -> None:
    capped = dataclasses.replace(TWENTY_PCT, budget_cents=10_000)
    # 20 % of ¥300 is ¥60: the first sale takes it whole, the second only the ¥40 left.
    assert quote(capped, room={"P20": room_of(capped, 0, 0, 0)}).campaign_discount_cents == 6_000
    second = quote(capped, room={"P20": room_of(capped, 6_000, 0, 0)})
    assert second.campaign_discount_cents == 4_000
    assert second.campaign_offs == (("P20", 4_000),)
    spent = quote(capped, room={"P20": room_of(capped, 10_000, 0, 0)})
    assert spent.campaigns == () and spent.campaign_discount_cents == 0
    assert spent.net_cents == 30_000


def test_a_spent_campaign_leaves_room_for_the_next_best() -> None:
    capped = dataclasses.replace(TWENTY_PCT, budget_cents=6_000)
    rules = {"campaigns": (capped, SPEND_100_GET_10)}
    ctx = dataclasses.replace(member(), branch="shop-1")
    fresh = quote_sale(make_rules(**rules), ctx, SALE, ON, room={"P20": room_of(capped, 0, 0, 0)})
    assert fresh.campaign_offs == (("P20", 6_000),)
    room = {"P20": room_of(capped, 6_000, 0, 0)}
    assert quote_sale(make_rules(**rules), ctx, SALE, ON, room=room).campaign_offs == (
        ("S100", 3_000),
    )


def test_a_gift_needs_its_whole_cost_in_the_budget() -> None:
    capped = dataclasses.replace(TOTE, budget_cents=1_600)  # two totes
    assert quote(capped, room={"TOTE": room_of(capped, 800, 0, 0)}).gifts == ("tote",)
    assert quote(capped, room={"TOTE": room_of(capped, 1_600, 0, 0)}).gifts == ()
    assert quote(capped, room={"TOTE": Room(cents=799)}).gifts == ()


def test_double_points_trimmed_to_its_points_budget() -> None:
    capped = dataclasses.replace(DOUBLE, budget_points=500)
    full = quote(capped, room={"X2": room_of(capped, 0, 0, 0)})
    assert (full.points, full.campaign_points, full.factor_pct) == (600, (("X2", 300),), 200)
    assert full.campaigns == ("X2",)
    trimmed = quote(capped, room={"X2": room_of(capped, 0, 300, 0)})
    assert (trimmed.points, trimmed.campaign_points) == (500, (("X2", 200),))
    spent = quote(capped, room={"X2": room_of(capped, 0, 500, 0)})
    assert (spent.points, spent.campaign_points, spent.campaigns) == (300, (), ())


def test_double_points_do_not_stack_with_a_better_multiplier() -> None:
    triple = Multiplier("triple", 300)
    q = quote(DOUBLE, multipliers=(triple,))
    assert (q.points, q.campaign_points, q.factor_pct) == (900, (), 300)
    quadruple = dataclasses.replace(DOUBLE, factor_pct=400)
    q = quote(quadruple, multipliers=(triple,))  # only what it adds over the multiplier
    assert (q.points, q.campaign_points, q.factor_pct) == (1_200, (("X2", 300),), 400)


@pytest.mark.parametrize(("c", "off", "gifts", "points"), KINDS)
def test_per_member_use_limit(c: Campaign, off: int, gifts: tuple[str, ...], points: int) -> None:
    twice = dataclasses.replace(c, member_uses_max=2)
    assert given(quote(twice, room={c.code: room_of(twice, 0, 0, 1)})) == (off, gifts, points)
    assert given(quote(twice, room={c.code: room_of(twice, 0, 0, 2)})) == NOTHING
    # A device cannot count uses: it quotes the offer (the hub decides; see hub tests).
    assert given(quote(twice, room=None)) == (off, gifts, points)


@pytest.mark.parametrize(("c", "off", "gifts", "points"), KINDS)
def test_held_out_members_do_not_get_it(
    c: Campaign, off: int, gifts: tuple[str, ...], points: int
) -> None:
    with_control = dataclasses.replace(c, segment="vip", control_percent=10)
    treated = in_segment("vip")
    assert given(quote(with_control, treated)) == (off, gifts, points)
    control = dataclasses.replace(treated, held_out=frozenset({c.code}))
    assert given(quote(with_control, control)) == NOTHING
    other = dataclasses.replace(treated, held_out=frozenset({"OTHER"}))
    assert given(quote(with_control, other)) == (off, gifts, points)


def test_room_of() -> None:
    c = dataclasses.replace(TWENTY_PCT, budget_cents=1_000, member_uses_max=3)
    assert room_of(c, 400, 0, 1) == Room(cents=600, points=None, uses=2)
    assert room_of(c, 1_000, 0, 0).spent and room_of(c, 0, 0, 3).spent
    assert not room_of(c, 999, 0, 2).spent
    assert room_of(TWENTY_PCT, 5, 5, 5) == Room() and not TWENTY_PCT.capped and c.capped


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"segment": "VIP!"}, "campaign P20: segment is 1..48 of a-z"),
        ({"segment": "x" * 49}, "campaign P20: segment is 1..48"),
        ({"branches": ("shop-1", "")}, "campaign P20: at most 100 branches, none empty"),
        ({"branches": ("shop-1", "shop-1")}, "campaign P20: branches must not repeat"),
        ({"budget_cents": -1}, "campaign P20: budget_cents must be within 0.."),
        ({"member_uses_max": -1}, "campaign P20: member_uses_max must be within 0.."),
        ({"control_percent": 101}, "campaign P20: control_percent must be within 0..100"),
        ({"budget_points": 10}, "campaign P20: budget_points caps a double_points campaign only"),
        ({"gift_cost_cents": 10}, "campaign P20: gift_cost_cents is a gift campaign's"),
        ({"factor_pct": 200}, "campaign P20: factor_pct 101..1000 on double_points only"),
    ],
)
def test_unsound_targeting_is_refused_with_its_reason(fields: dict[str, Any], error: str) -> None:
    errors = validate_rules(make_rules(campaigns=(dataclasses.replace(TWENTY_PCT, **fields),)))
    assert any(e.startswith(error) for e in errors), errors


def test_double_points_needs_a_factor_and_no_cents_budget() -> None:
    no_factor = dataclasses.replace(DOUBLE, factor_pct=0)
    assert validate_rules(make_rules(campaigns=(no_factor,))) == [
        "campaign X2: factor_pct 101..1000 on double_points only"
    ]
    cents = dataclasses.replace(DOUBLE, budget_cents=100)
    assert validate_rules(make_rules(campaigns=(cents,))) == [
        "campaign X2: a double_points campaign's budget is budget_points"
    ]
    sound = dataclasses.replace(DOUBLE, segment="vip", branches=("shop-1",), budget_points=9)
    assert validate_rules(make_rules(campaigns=(sound, TWENTY_PCT))) == []
