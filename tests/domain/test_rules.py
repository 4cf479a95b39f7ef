"""Loading a rule set: `validate_rules` lists every reason a rule set is unsound.

Scenario: an operator edits the chain's rules and loads them at the hub. A sound rule
set gives no errors. Each kind of mistake (tiers out of order, duplicate campaign or
catalog codes, negative fees, a campaign that ends before it starts, ...) gives exactly
one error that names it, so the operator can fix it before devices ever see the rules.
The behaviour of the rules themselves is covered in test_tiers, test_earning,
test_discounts and test_validity.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tapcard.domain.rules import (
    RULES_CAMPAIGNS_MAX,
    RULES_CATALOG_ITEMS_MAX,
    RULES_PRICE_LIST_ITEMS_MAX,
    RULES_TIERS_MAX,
    BirthdayBonus,
    Campaign,
    CampaignKind,
    CatalogItem,
    CatalogKind,
    EarnRule,
    Fees,
    Multiplier,
    OfflinePolicy,
    RuleSet,
    Tier,
    validate_rules,
)
from tapcard.domain.window import WINDOW_JOINED_WITHIN_DAYS_MAX

from .helpers import TIERS, D, make_rules

JAN, DEC = D(2026, 1, 1), D(2026, 12, 31)


def camp(code: str = "C1", kind: CampaignKind = CampaignKind.PERCENT_OFF, **f: Any) -> Campaign:
    base = Campaign(code, kind, starts_on=JAN, ends_on=DEC, percent_bp=500)
    return dataclasses.replace(base, **f)


def item(code: str = "I1", **f: Any) -> CatalogItem:
    return dataclasses.replace(CatalogItem(code, CatalogKind.PRIZE, "Mug", 1_500, stock=10), **f)


def sound_rules() -> RuleSet:
    return make_rules(
        multipliers=(Multiplier("double", 200, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 31)),),
        birthday=BirthdayBonus(factor_pct=200),
        fees=Fees(2_000, 5_000, 1_000, 1_500),
        campaigns=(
            camp(
                "S200",
                CampaignKind.SPEND_GET_OFF,
                min_spend_cents=20_000,
                off_cents=2_000,
                percent_bp=0,
                repeat=True,
            ),
            camp("P5", stackable=True),
            camp("NEW", CampaignKind.NEW_MEMBER, percent_bp=1_000, new_member_days=30),
            camp("GIFT", CampaignKind.GIFT, min_spend_cents=30_000, gift="tote", percent_bp=0),
        ),
        price_lists={"silver": {"SKU-A": 800}, "gold": {"SKU-A": 700}},
        catalog=(
            item("PARK", kind=CatalogKind.PARKING, points=100, units_max=12, stock=None),
            item("WASH", kind=CatalogKind.CAR_WASH, points=800, stock=None),
            item("MUG"),
        ),
    )


def test_sound_rule_set_has_no_errors() -> None:
    assert validate_rules(sound_rules()) == []
    assert validate_rules(RuleSet(version=1, name="defaults")) == []


def tiers_with(index: int, **f: Any) -> tuple[Tier, ...]:
    changed = list(TIERS)
    changed[index] = dataclasses.replace(TIERS[index], **f)
    return tuple(changed)


def many_tiers(n: int) -> tuple[Tier, ...]:
    return tuple(Tier(f"t{i}", i * 1_000) for i in range(n))


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("version", {"version": 0}, "version must be >= 1"),
    ("currency lower case", {"currency": "cny"}, "currency"),
    ("currency length", {"currency": "CN"}, "currency"),
    # (the sound rule set's price lists name silver and gold, which these tiers lack)
    ("no tiers", {"tiers": (), "price_lists": {}}, "tiers are required"),
    (
        "too many tiers",
        {"tiers": many_tiers(RULES_TIERS_MAX + 1), "price_lists": {}},
        "tiers are required",
    ),
    ("first tier above 0", {"tiers": tiers_with(0, growth_points_min=1)}, "first tier"),
    (
        "duplicate tier names",
        {"tiers": tiers_with(1, name="gold"), "price_lists": {}},
        "tier names must be unique",
    ),
    (
        "tier growth equal",
        {"tiers": tiers_with(2, growth_points_min=10_000)},
        "gold must need more growth points than silver",
    ),
    (
        "tier growth decreasing",
        {"tiers": tiers_with(3, growth_points_min=40_000)},
        "platinum must need more growth points than gold",
    ),
    (
        "tier easier to keep",
        {"tiers": tiers_with(2, keep_growth_points_min=4_000)},
        "gold cannot be easier to keep than silver",
    ),
    ("tier discount above 100 %", {"tiers": tiers_with(1, discount_bp=10_001)}, "discount_bp"),
    ("tier discount negative", {"tiers": tiers_with(1, discount_bp=-1)}, "discount_bp"),
    ("earn zero cents per point", {"earn": EarnRule(cents_per_point=0)}, "cents_per_point"),
    (
        "multiplier below 100 %",
        {"multipliers": (Multiplier("half", 50, starts_on=JAN, ends_on=DEC),)},
        "multiplier half",
    ),
    (
        "multiplier window reversed",
        {"multipliers": (Multiplier("back", 200, starts_on=DEC, ends_on=JAN),)},
        "multiplier back",
    ),
    ("birthday below 100 %", {"birthday": BirthdayBonus(factor_pct=99)}, "birthday.factor_pct"),
    ("negative joining fee", {"fees": Fees(joining_cents=-1)}, "fees.joining_cents"),
    ("negative annual fee", {"fees": Fees(annual_cents=-1)}, "fees.annual_cents"),
    (
        "negative supplementary fee",
        {"fees": Fees(supplementary_cents=-1)},
        "fees.supplementary_cents",
    ),
    ("negative replacement fee", {"fees": Fees(replacement_cents=-1)}, "fees.replacement_cents"),
    ("negative validity", {"card_validity_months": -1}, "card_validity_months"),
    ("negative inactivity", {"inactivity_months": -1}, "inactivity_months"),
    ("negative backfill window", {"backfill_window_days": -1}, "backfill_window_days"),
    (
        "negative offline limit",
        {"offline": OfflinePolicy(card_daily_cents_max=-1)},
        "offline.card_daily_cents_max",
    ),
    (
        "offline card limit above the device limit",
        {"offline": OfflinePolicy(card_daily_cents_max=300_000, device_daily_cents_max=200_000)},
        "cannot exceed device_daily_cents_max",
    ),
    (
        "too many campaigns",
        {"campaigns": tuple(camp(f"C{i}") for i in range(RULES_CAMPAIGNS_MAX + 1))},
        "campaigns",
    ),
    (
        "duplicate campaign codes",
        {"campaigns": (camp("X"), camp("X"))},
        "campaign codes must be unique",
    ),
    (
        "campaign window reversed",
        {"campaigns": (camp(starts_on=DEC, ends_on=JAN),)},
        "ends before it starts",
    ),
    ("campaign month 13", {"campaigns": (camp(months=(13,)),)}, "months must be within 1..12"),
    ("campaign month 0", {"campaigns": (camp(months=(0, 12)),)}, "months must be within 1..12"),
    ("campaign months repeat", {"campaigns": (camp(months=(12, 12)),)}, "must not repeat"),
    ("campaign weekday 8", {"campaigns": (camp(weekdays=(8,)),)}, "weekdays must be within 1..7"),
    (
        "campaign weekdays repeat",
        {"campaigns": (camp(weekdays=(6, 7, 6)),)},
        "weekdays must not repeat",
    ),
    (
        "campaign lists more weekdays than a week has",
        {"campaigns": (camp(weekdays=(1, 2, 3, 4, 5, 6, 7, 1)),)},
        "at most 7 weekdays",
    ),
    (
        "campaign joined within negative days",
        {"campaigns": (camp(joined_within_days=-1),)},
        "joined_within_days must be within",
    ),
    (
        "campaign joined within too many days",
        {"campaigns": (camp(joined_within_days=WINDOW_JOINED_WITHIN_DAYS_MAX + 1),)},
        "joined_within_days must be within",
    ),
    (
        "campaign for February between March and December",
        {"campaigns": (camp(months=(2,), starts_on=D(2026, 3, 1)),)},
        "matches no day",
    ),
    (
        "campaign for weekends within one working week",
        {"campaigns": (camp(weekdays=(6, 7), starts_on=D(2026, 6, 8), ends_on=D(2026, 6, 12)),)},
        "matches no day",
    ),
    (
        "multiplier month 13",
        {"multipliers": (Multiplier("m13", 200, months=(13,)),)},
        "multiplier m13: months",
    ),
    ("campaign negative amount", {"campaigns": (camp(min_spend_cents=-1),)}, "amounts must be"),
    ("campaign percent above 100 %", {"campaigns": (camp(percent_bp=10_001),)}, "percent_bp"),
    (
        "percent campaign without a percentage",
        {"campaigns": (camp(percent_bp=0),)},
        "needs percent_bp > 0",
    ),
    (
        "new member campaign without a percentage",
        {"campaigns": (camp(kind=CampaignKind.NEW_MEMBER, percent_bp=0, new_member_days=30),)},
        "needs percent_bp > 0",
    ),
    (
        "spend-get-off without a threshold",
        {"campaigns": (camp(kind=CampaignKind.SPEND_GET_OFF, percent_bp=0),)},
        "needs min_spend_cents and off_cents",
    ),
    (
        "spend-get-off giving nothing",
        {"campaigns": (camp(kind=CampaignKind.SPEND_GET_OFF, percent_bp=0, min_spend_cents=100),)},
        "needs min_spend_cents and off_cents",
    ),
    (
        "spend-get-off giving more than spent",
        {
            "campaigns": (
                camp(
                    kind=CampaignKind.SPEND_GET_OFF,
                    percent_bp=0,
                    min_spend_cents=100,
                    off_cents=101,
                ),
            )
        },
        "off_cents cannot exceed",
    ),
    (
        "gift without a gift",
        {"campaigns": (camp(kind=CampaignKind.GIFT, percent_bp=0, min_spend_cents=100),)},
        "names its gift",
    ),
    (
        "too many catalog items",
        {"catalog": tuple(item(f"I{i}") for i in range(RULES_CATALOG_ITEMS_MAX + 1))},
        "catalog items",
    ),
    ("duplicate catalog codes", {"catalog": (item("A"), item("A"))}, "catalog codes must be"),
    ("catalog item without points", {"catalog": (item(points=0),)}, "points > 0"),
    ("catalog item without units", {"catalog": (item(units_max=0),)}, "units_max >= 1"),
    ("catalog negative stock", {"catalog": (item(stock=-1),)}, "stock must be >= 0"),
    (
        "price list for unknown tier",
        {"price_lists": {"diamond": {"SKU-A": 1}}},
        "unknown tier diamond",
    ),
    (
        "price list too long",
        {"price_lists": {"gold": {f"S{i}": 1 for i in range(RULES_PRICE_LIST_ITEMS_MAX + 1)}}},
        "longer than",
    ),
    ("negative member price", {"price_lists": {"gold": {"SKU-A": -1}}}, "price gold/SKU-A"),
]


@pytest.mark.parametrize(("changes", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_gives_one_error(changes: dict[str, Any], fragment: str) -> None:
    errors = validate_rules(dataclasses.replace(sound_rules(), **changes))
    assert len(errors) == 1, errors
    assert fragment in errors[0]


def test_recurring_and_open_windows_are_sound() -> None:
    recurring = make_rules(
        multipliers=(Multiplier("december", 200, months=(12,)),),
        campaigns=(
            camp("WKND", weekdays=(6, 7), starts_on=None, ends_on=None),
            camp("FEB", months=(2,), starts_on=D(2026, 3, 1), ends_on=D(2027, 2, 1)),
            camp("BDAY", birthday_month=True, ends_on=None),
            camp("NEW", joined_within_days=WINDOW_JOINED_WITHIN_DAYS_MAX, starts_on=None),
            camp("ALL", months=tuple(range(1, 13)), weekdays=tuple(range(1, 8))),
        ),
    )
    assert validate_rules(recurring) == []


def test_all_mistakes_are_reported_together() -> None:
    rules = dataclasses.replace(
        sound_rules(), version=0, fees=Fees(annual_cents=-5), campaigns=(camp("X"), camp("X"))
    )
    assert len(validate_rules(rules)) == 3


def test_non_increasing_tiers_are_reported_per_pair() -> None:
    flat = (Tier("regular", 0), Tier("silver", 0), Tier("gold", 0))
    errors = validate_rules(make_rules(tiers=flat))
    assert errors == [
        "tier silver must need more growth points than regular",
        "tier gold must need more growth points than silver",
    ]
