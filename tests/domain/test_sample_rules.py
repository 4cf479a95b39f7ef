"""The demo rule set shipped in the package loads and is sound.

Scenario: a fresh hub loads `tapcard/sample_rules.json` for a demo chain in CNY: four
tiers, 1 point per yuan, double points every December, a 200 % birthday bonus, fees,
campaigns that recur (weekends, every March, the member's birthday month) or never end,
silver/gold member prices and a parking/car-wash/prize catalog. Which campaign runs on
which day, in any year, is in test_windows.
"""

from __future__ import annotations

from tapcard.domain.engine import MemberContext, SaleLine, fee_cents, quote_sale
from tapcard.domain.model import FeeKind
from tapcard.domain.rules import CampaignKind, CatalogKind, validate_rules
from tapcard.samples import load_sample_rules

from .helpers import D


def test_sample_rules_load_and_validate() -> None:
    rules = load_sample_rules()
    assert validate_rules(rules) == []
    assert rules.version == 1
    assert rules.currency == "CNY"


def test_sample_rules_content() -> None:
    rules = load_sample_rules()
    assert [(t.name, t.growth_points_min, t.discount_bp) for t in rules.tiers] == [
        ("regular", 0, 0),
        ("silver", 10_000, 300),
        ("gold", 50_000, 500),
        ("platinum", 150_000, 800),
    ]
    assert rules.earn.cents_per_point == 100
    assert set(rules.earn.excluded_categories) == {"group_buy", "special_offer"}
    assert [(x.name, x.factor_pct, x.months) for x in rules.multipliers] == [
        ("December double points", 200, (12,))
    ]
    assert rules.birthday is not None
    assert rules.birthday.factor_pct == 200
    assert (rules.card_validity_months, rules.inactivity_months) == (24, 24)
    assert rules.backfill_window_days == 30
    assert [fee_cents(rules, kind) for kind in FeeKind] == [2_000, 5_000, 1_000, 1_500]
    # The demo's double points are its December multiplier, not a targeted campaign.
    assert {c.kind for c in rules.campaigns} == set(CampaignKind) - {CampaignKind.DOUBLE_POINTS}
    assert set(rules.price_lists) == {"silver", "gold"}
    parking = rules.catalog_item("PARK-HOUR")
    assert parking is not None
    assert (parking.kind, parking.points, parking.units_max) == (CatalogKind.PARKING, 100, 12)
    assert sum(1 for item in rules.catalog if item.kind is CatalogKind.PRIZE) == 2


def test_sample_rules_price_a_sale() -> None:
    rules = load_sample_rules()
    gold = MemberContext("gold", joined_on=D(2024, 5, 1))
    lines = [SaleLine("auto", 29_800, sku="SKU-MOTOR-OIL-4L"), SaleLine("grocery", 2_000)]
    quote = quote_sale(rules, gold, lines, D(2031, 12, 3))  # a Wednesday in December
    # Oil at the gold price (248), groceries 5 % off (19): 267 eligible, 20 off once.
    assert quote.member_price_saving_cents == 5_000
    assert quote.tier_discount_cents == 100
    assert quote.campaign_discount_cents == 2_000
    assert quote.net_cents == 24_800 + 1_900 - 2_000
    assert (quote.base_points, quote.points) == (247, 494)  # December double points
    weekend = quote_sale(rules, gold, lines, D(2031, 12, 6))  # the Saturday after
    assert weekend.campaign_offs == (("WEEKEND-5PCT", 1_335), ("SPEND200-GET20", 2_000))
    assert (weekend.base_points, weekend.points) == (233, 466)
