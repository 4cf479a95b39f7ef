"""Properties of quote_sale and sale_legs over random sales, tiers and campaigns.

Scenario: any sound rule set (random earn rate, tier discounts, member prices,
multipliers, birthday bonus and campaigns, whose windows may recur by month, weekday,
birthday month or days after joining, or be open on either side) prices any valid basket
for any member on any day from 1990 to 2100. Whatever the mix: net + discounts == gross,
no discount is negative and the campaigns never take more than the eligible subtotal,
points are whole and never negative, the remainder is below one point's worth, excluded
lines change nothing but the amount paid, and the resulting legs always form a valid,
balanced transfer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapcard.domain.engine import (
    SALE_LINE_PRICE_CENTS_MAX,
    SALE_LINE_QUANTITY_MAX,
    SALE_LINES_MAX,
    MemberContext,
    SaleLine,
    quote_sale,
    validate_lines,
)
from tapcard.domain.ledger import member_account, net_deltas, sale_legs, validate_legs
from tapcard.domain.model import Asset, Payment
from tapcard.domain.rules import (
    BP_WHOLE,
    BirthdayBonus,
    Campaign,
    CampaignKind,
    EarnRule,
    Multiplier,
    RuleSet,
    Tier,
    validate_rules,
)

from .helpers import make_rules

CATEGORIES = ("grocery", "fuel", "car_wash", "group_buy", "special_offer")
EXCLUDED = ("group_buy", "special_offer")
SKUS = ("", "SKU-A", "SKU-B", "SKU-C")
TIER_NAMES = ("regular", "silver", "gold", "platinum")

any_day = st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31))
# A bounded window this long meets every month and weekday, so it is never empty.
RECURRING_SPAN_DAYS_MIN = 2 * 366
cents = st.one_of(st.integers(0, 50_000), st.integers(0, SALE_LINE_PRICE_CENTS_MAX))


@st.composite
def tiers(draw: st.DrawFn) -> tuple[Tier, ...]:
    steps = draw(st.lists(st.integers(1, 100_000), min_size=3, max_size=3))
    keeps = sorted(draw(st.lists(st.integers(0, 100_000), min_size=3, max_size=3)))
    mins = [0, steps[0], steps[0] + steps[1], sum(steps)]
    return tuple(
        Tier(name, mins[i], draw(st.integers(0, BP_WHOLE)), ([0, *keeps])[i])
        for i, name in enumerate(TIER_NAMES)
    )


@st.composite
def window_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A window: open or bounded on each side, with or without recurring conditions."""
    months = tuple(draw(st.lists(st.integers(1, 12), unique=True, max_size=3)))
    weekdays = tuple(draw(st.lists(st.integers(1, 7), unique=True, max_size=3)))
    starts_on = draw(st.none() | any_day)
    span = draw(st.integers(0, 3_000))
    if months or weekdays:
        span = max(span, RECURRING_SPAN_DAYS_MIN)
    ends_on: dt.date | None = None
    if draw(st.booleans()):
        ends_on = draw(any_day) if starts_on is None else starts_on + dt.timedelta(days=span)
    return {
        "starts_on": starts_on,
        "ends_on": ends_on,
        "months": months,
        "weekdays": weekdays,
        "birthday_month": draw(st.booleans()),
        "joined_within_days": draw(st.none() | st.integers(0, 400)),
    }


@st.composite
def campaigns(draw: st.DrawFn, code: str) -> Campaign:
    kind = draw(st.sampled_from(CampaignKind))
    base = Campaign(code, kind, stackable=draw(st.booleans()), **draw(window_fields()))
    if kind is CampaignKind.SPEND_GET_OFF:
        min_spend = draw(st.integers(1, 60_000))
        return dataclasses.replace(
            base,
            min_spend_cents=min_spend,
            off_cents=draw(st.integers(1, min_spend)),
            repeat=draw(st.booleans()),
        )
    if kind is CampaignKind.GIFT:
        return dataclasses.replace(base, min_spend_cents=draw(st.integers(0, 60_000)), gift="mug")
    if kind is CampaignKind.DOUBLE_POINTS:
        return dataclasses.replace(base, factor_pct=draw(st.integers(101, 1_000)))
    return dataclasses.replace(
        base,
        percent_bp=draw(st.integers(1, BP_WHOLE)),
        min_spend_cents=draw(st.integers(0, 60_000)),
        new_member_days=draw(st.integers(0, 60)),
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    price = st.dictionaries(st.sampled_from(SKUS[1:]), st.integers(0, 60_000), max_size=3)
    n_campaigns = draw(st.integers(0, 5))
    return make_rules(
        tiers=draw(tiers()),
        earn=EarnRule(
            cents_per_point=draw(st.sampled_from([1, 7, 100, 1_000])),
            excluded_categories=EXCLUDED,
        ),
        multipliers=tuple(
            Multiplier(f"m{i}", draw(st.integers(100, 500)), **draw(window_fields()))
            for i in range(draw(st.integers(0, 2)))
        ),
        birthday=draw(st.none() | st.builds(BirthdayBonus, st.integers(100, 500), st.booleans())),
        campaigns=tuple(draw(campaigns(f"C{i}")) for i in range(n_campaigns)),
        price_lists=draw(st.dictionaries(st.sampled_from(TIER_NAMES), price, max_size=4)),
    )


sale_lines = st.lists(
    st.builds(
        SaleLine,
        category=st.sampled_from(CATEGORIES),
        unit_price_cents=cents,
        quantity=st.one_of(st.integers(1, 5), st.integers(1, SALE_LINE_QUANTITY_MAX)),
        sku=st.sampled_from(SKUS),
    ),
    min_size=1,
    max_size=min(SALE_LINES_MAX, 12),
)
members = st.builds(
    MemberContext,
    tier=st.sampled_from(TIER_NAMES),
    joined_on=st.dates(dt.date(1985, 1, 1), dt.date(2100, 12, 31)),
    birthday=st.none() | st.dates(dt.date(1940, 1, 1), dt.date(2010, 12, 31)),
)

PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(rules=rule_sets(), member=members, lines=sale_lines, on=any_day)
def test_quote_invariants(
    rules: RuleSet, member: MemberContext, lines: list[SaleLine], on: dt.date
) -> None:
    assert validate_rules(rules) == []
    assert validate_lines(lines) == []
    quote = quote_sale(rules, member, lines, on)
    gross = sum(x.unit_price_cents * x.quantity for x in lines)
    excluded = sum(x.unit_price_cents * x.quantity for x in lines if x.category in EXCLUDED)
    eligible = gross - excluded - quote.member_price_saving_cents - quote.tier_discount_cents

    assert quote.gross_cents == gross
    assert quote.net_cents + quote.discount_cents == quote.gross_cents
    assert min(quote.member_price_saving_cents, quote.tier_discount_cents) >= 0
    assert 0 <= quote.campaign_discount_cents <= eligible
    assert quote.excluded_cents == excluded
    assert quote.net_cents == quote.earning_cents + quote.excluded_cents
    assert 0 <= quote.remainder_cents < rules.earn.cents_per_point
    base = quote.base_points
    assert base * rules.earn.cents_per_point + quote.remainder_cents == quote.earning_cents
    assert 0 <= base <= quote.points
    assert quote.points == base * quote.factor_pct // 100
    assert quote.growth == base


@PROPERTY_SETTINGS
@given(rules=rule_sets(), member=members, lines=sale_lines, on=any_day)
def test_excluded_lines_change_only_what_is_paid(
    rules: RuleSet, member: MemberContext, lines: list[SaleLine], on: dt.date
) -> None:
    quote = quote_sale(rules, member, lines, on)
    eligible_lines = [x for x in lines if x.category not in EXCLUDED]
    if not eligible_lines:
        assert quote.points == quote.earning_cents == quote.discount_cents == 0
        return
    alone = quote_sale(rules, member, eligible_lines, on)
    assert (alone.points, alone.earning_cents, alone.discount_cents) == (
        quote.points,
        quote.earning_cents,
        quote.discount_cents,
    )
    assert (alone.campaigns, alone.gifts) == (quote.campaigns, quote.gifts)
    assert quote.net_cents - alone.net_cents == quote.excluded_cents


@PROPERTY_SETTINGS
@given(
    rules=rule_sets(),
    member=members,
    lines=sale_lines,
    on=any_day,
    payment=st.sampled_from(Payment),
    member_id=st.integers(1, 2**31),
)
def test_sale_legs_always_validate(
    rules: RuleSet,
    member: MemberContext,
    lines: list[SaleLine],
    on: dt.date,
    payment: Payment,
    member_id: int,
) -> None:
    quote = quote_sale(rules, member, lines, on)
    legs = sale_legs(member_id, quote, payment)
    if quote.gross_cents == 0:
        assert legs == []  # a free sale moves nothing
        return
    assert validate_legs(legs) == []
    deltas = net_deltas(legs)
    assert deltas.get(member_account(member_id, Asset.POINTS), 0) == quote.points
    assert deltas.get(member_account(member_id, Asset.GROWTH), 0) == quote.growth
    paid_from_card = deltas.get(member_account(member_id, Asset.CENTS), 0)
    assert paid_from_card == (-quote.net_cents if payment is Payment.STORED_VALUE else 0)
