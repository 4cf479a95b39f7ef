"""Discounts: tier discounts, member price lists and campaigns, in that order.

Scenario: silver/gold/platinum members get 3 % / 5 % / 8 % off eligible lines (basis
points, rounded down per line). A SKU on the member's tier price list is sold at the
member price instead (never above retail, and without the tier discount on top).
Campaigns then apply to the eligible subtotal: spend 200 get 20 off (once or per each
200), percentage off, 10 % for members who joined within 30 days, gifts. Only the best
non-stackable campaign applies, together with every stackable one, and the total never
exceeds the eligible subtotal. Group-buy and special-offer lines get none of this.
In every quote: net + discounts == gross.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tapcard.domain.engine import SaleQuote, quote_sale
from tapcard.domain.rules import Campaign, CampaignKind

from .helpers import D, line, make_rules, member

ON = D(2026, 6, 10)
YEAR_START, YEAR_END = D(2026, 1, 1), D(2026, 12, 31)


def campaign(code: str, kind: CampaignKind, **fields: Any) -> Campaign:
    """A campaign running all of 2026 unless the fields say otherwise."""
    return dataclasses.replace(
        Campaign(code, kind, starts_on=YEAR_START, ends_on=YEAR_END), **fields
    )


SPEND_200_GET_20 = campaign(
    "S200", CampaignKind.SPEND_GET_OFF, min_spend_cents=20_000, off_cents=2_000
)
SPEND_200_GET_20_EACH = campaign(
    "S200R", CampaignKind.SPEND_GET_OFF, min_spend_cents=20_000, off_cents=2_000, repeat=True
)
TEN_PCT = campaign("P10", CampaignKind.PERCENT_OFF, percent_bp=1_000)
FIVE_PCT_STACKABLE = campaign("P5S", CampaignKind.PERCENT_OFF, percent_bp=500, stackable=True)
WELCOME = campaign("NEW10", CampaignKind.NEW_MEMBER, percent_bp=1_000, new_member_days=30)
TOTE = campaign("TOTE", CampaignKind.GIFT, min_spend_cents=30_000, gift="tote bag")


def assert_balanced(quote: SaleQuote) -> None:
    assert quote.net_cents + quote.discount_cents == quote.gross_cents
    assert quote.discount_cents == (
        quote.member_price_saving_cents + quote.tier_discount_cents + quote.campaign_discount_cents
    )


@pytest.mark.parametrize(
    ("tier", "discount", "net", "points"),
    [
        ("regular", 0, 10_000, 100),
        ("silver", 300, 9_700, 97),
        ("gold", 500, 9_500, 95),
        ("platinum", 800, 9_200, 92),
    ],
)
def test_tier_discount_in_basis_points(tier: str, discount: int, net: int, points: int) -> None:
    quote = quote_sale(make_rules(), member(tier), [line(10_000)], ON)
    assert quote.tier_discount_cents == discount
    assert quote.net_cents == net
    assert quote.points == points  # points are earned on what is paid
    assert_balanced(quote)


def test_tier_discount_rounds_down_per_line() -> None:
    # 999 * 3 % = 29.97 -> 29 on each line; the quantity line is 2997 * 3 % = 89.91 -> 89.
    quote = quote_sale(
        make_rules(), member("silver"), [line(999), line(999), line(999), line(999, quantity=3)], ON
    )
    assert quote.tier_discount_cents == 29 * 3 + 89
    assert_balanced(quote)


def test_excluded_lines_get_no_tier_discount() -> None:
    quote = quote_sale(make_rules(), member("gold"), [line(10_000, "group_buy")], ON)
    assert quote.tier_discount_cents == 0
    assert quote.net_cents == 10_000


PRICES = {"silver": {"SKU-A": 800, "SKU-B": 1_200}, "gold": {"SKU-A": 700}}


def test_member_price_replaces_retail_for_the_tier() -> None:
    rules = make_rules(price_lists=PRICES)
    quote = quote_sale(rules, member("silver"), [line(1_000, sku="SKU-A", quantity=2)], ON)
    assert quote.member_price_saving_cents == 400
    assert quote.tier_discount_cents == 0  # no tier discount on top of a member price
    assert quote.net_cents == 1_600
    assert quote.points == 16
    assert_balanced(quote)


def test_member_price_list_is_per_tier() -> None:
    rules = make_rules(price_lists=PRICES)
    lines = [line(1_000, sku="SKU-A")]
    assert quote_sale(rules, member("regular"), lines, ON).net_cents == 1_000  # retail
    assert quote_sale(rules, member("gold"), lines, ON).net_cents == 700
    # SKU-B has no gold price: the gold tier discount applies instead.
    gold_b = quote_sale(rules, member("gold"), [line(2_000, sku="SKU-B")], ON)
    assert gold_b.member_price_saving_cents == 0
    assert gold_b.tier_discount_cents == 100


def test_member_price_never_exceeds_retail() -> None:
    rules = make_rules(price_lists=PRICES)
    quote = quote_sale(rules, member("silver"), [line(1_000, sku="SKU-B")], ON)  # list 1200
    assert quote.net_cents == 1_000
    assert quote.member_price_saving_cents == 0


def test_excluded_line_gets_no_member_price() -> None:
    rules = make_rules(price_lists=PRICES)
    quote = quote_sale(rules, member("silver"), [line(1_000, "special_offer", sku="SKU-A")], ON)
    assert quote.net_cents == 1_000
    assert quote.discount_cents == 0


@pytest.mark.parametrize(
    ("cents", "once_off", "repeat_off"),
    [
        (19_999, 0, 0),
        (20_000, 2_000, 2_000),
        (39_999, 2_000, 2_000),
        (45_000, 2_000, 4_000),
        (60_000, 2_000, 6_000),
    ],
)
def test_spend_x_get_y_off(cents: int, once_off: int, repeat_off: int) -> None:
    once = quote_sale(make_rules(campaigns=(SPEND_200_GET_20,)), member(), [line(cents)], ON)
    each = quote_sale(make_rules(campaigns=(SPEND_200_GET_20_EACH,)), member(), [line(cents)], ON)
    assert once.campaign_discount_cents == once_off
    assert each.campaign_discount_cents == repeat_off
    assert once.campaigns == (("S200",) if once_off else ())
    assert_balanced(once)
    assert_balanced(each)


def test_spend_threshold_counts_the_eligible_subtotal_only() -> None:
    rules = make_rules(campaigns=(SPEND_200_GET_20,))
    # 150 of special offers + 100 of groceries: only 100 is eligible.
    quote = quote_sale(rules, member(), [line(15_000, "special_offer"), line(10_000)], ON)
    assert quote.campaign_discount_cents == 0
    # Silver pays 205 - 3 % = 198.85 for 205 retail: below the 200 threshold.
    silver = quote_sale(rules, member("silver"), [line(20_500)], ON)
    assert silver.campaign_discount_cents == 0


def test_percentage_off_rounds_down_and_skips_excluded_lines() -> None:
    rules = make_rules(campaigns=(TEN_PCT,))
    quote = quote_sale(rules, member(), [line(12_345), line(10_000, "group_buy")], ON)
    assert quote.campaign_discount_cents == 1_234
    assert quote.net_cents == 12_345 - 1_234 + 10_000
    assert quote.points == 111  # (12345 - 1234) // 100
    assert quote.remainder_cents == 11
    assert_balanced(quote)


def test_tier_discount_then_campaign() -> None:
    rules = make_rules(campaigns=(TEN_PCT,))
    quote = quote_sale(rules, member("gold"), [line(10_000)], ON)
    assert quote.tier_discount_cents == 500
    assert quote.campaign_discount_cents == 950
    assert quote.net_cents == 8_550
    assert (quote.points, quote.remainder_cents) == (85, 50)


@pytest.mark.parametrize(
    ("on", "off"),
    [(D(2026, 3, 1), 1_000), (D(2026, 3, 31), 1_000), (D(2026, 4, 1), 0)],
)
def test_new_member_discount_within_n_days_of_joining(on: D, off: int) -> None:
    rules = make_rules(campaigns=(WELCOME,))
    newcomer = member(joined_on=D(2026, 3, 1))
    quote = quote_sale(rules, newcomer, [line(10_000)], on)
    assert quote.campaign_discount_cents == off


@pytest.mark.parametrize(
    ("on", "applies"),
    [
        (D(2026, 6, 12), False),
        (D(2026, 6, 13), True),
        (D(2026, 6, 14), True),
        (D(2026, 6, 15), False),
    ],
)
def test_campaign_window_is_inclusive(on: D, applies: bool) -> None:
    weekend = campaign(
        "WKND",
        CampaignKind.PERCENT_OFF,
        percent_bp=500,
        starts_on=D(2026, 6, 13),
        ends_on=D(2026, 6, 14),
    )
    quote = quote_sale(make_rules(campaigns=(weekend,)), member(), [line(10_000)], on)
    assert quote.campaign_discount_cents == (500 if applies else 0)


def test_gift_handed_over_at_the_threshold_without_changing_the_price() -> None:
    rules = make_rules(campaigns=(TOTE,))
    reached = quote_sale(rules, member(), [line(30_000)], ON)
    assert reached.gifts == ("tote bag",)
    assert reached.campaigns == ("TOTE",)
    assert reached.net_cents == 30_000
    short = quote_sale(rules, member(), [line(29_999)], ON)
    assert short.gifts == ()
    assert short.campaigns == ()


def test_only_the_best_non_stackable_campaign_applies() -> None:
    rules = make_rules(campaigns=(SPEND_200_GET_20, TEN_PCT))
    big = quote_sale(rules, member(), [line(30_000)], ON)  # 20 off vs 30 off
    assert big.campaign_discount_cents == 3_000
    assert big.campaigns == ("P10",)
    small = quote_sale(rules, member(), [line(20_000)], ON)  # 20 off vs 20 off: first wins
    assert small.campaign_discount_cents == 2_000
    assert small.campaigns == ("S200",)


def test_stackable_campaigns_add_to_the_best_non_stackable() -> None:
    rules = make_rules(campaigns=(SPEND_200_GET_20, TEN_PCT, FIVE_PCT_STACKABLE, TOTE))
    quote = quote_sale(rules, member(), [line(30_000)], ON)
    assert quote.campaign_discount_cents == 1_500 + 3_000
    assert set(quote.campaigns) == {"P5S", "P10", "TOTE"}
    assert quote.gifts == ("tote bag",)
    assert_balanced(quote)


def test_campaign_discount_never_exceeds_the_eligible_subtotal() -> None:
    all_off = campaign("ALL", CampaignKind.PERCENT_OFF, percent_bp=10_000, stackable=True)
    half_off = campaign("HALF", CampaignKind.PERCENT_OFF, percent_bp=5_000, stackable=True)
    rules = make_rules(campaigns=(all_off, half_off, SPEND_200_GET_20))
    quote = quote_sale(rules, member("silver"), [line(25_000), line(4_000, "group_buy")], ON)
    eligible = 25_000 - 750
    assert quote.campaign_discount_cents == eligible
    assert quote.net_cents == 4_000  # only the excluded line is paid
    assert quote.points == 0
    assert_balanced(quote)
