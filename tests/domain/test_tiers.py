"""Tiers and membership life: a member climbs by growth points and falls back at period end.

The test chain has regular (0), silver (10,000), gold (50,000) and platinum (150,000)
growth points; keeping silver/gold/platinum for another period needs 5,000 / 25,000 /
75,000 growth points earned within the period. A member who reaches a tier is upgraded
at once; only the end of a validity period can move a member down, and a member with no
activity for 24 months is terminated.
"""

from __future__ import annotations

import pytest

from tapcard.domain.engine import is_inactive, next_tier, tier_at_period_end, tier_for_growth

from .helpers import D, make_rules

RULES = make_rules()


@pytest.mark.parametrize(
    ("growth_points", "expected"),
    [
        (0, "regular"),
        (9_999, "regular"),
        (10_000, "silver"),
        (49_999, "silver"),
        (50_000, "gold"),
        (149_999, "gold"),
        (150_000, "platinum"),
        (10_000_000, "platinum"),
    ],
)
def test_growth_points_reach_tier(growth_points: int, expected: str) -> None:
    assert tier_for_growth(RULES, growth_points, "regular").name == expected


def test_upgrade_happens_at_once_and_may_skip_tiers() -> None:
    # A single big purchase takes a regular member straight past silver to gold.
    assert tier_for_growth(RULES, 50_000, "regular").name == "gold"
    assert tier_for_growth(RULES, 10_000, "silver").name == "silver"


def test_growth_never_downgrades_during_the_period() -> None:
    assert tier_for_growth(RULES, 0, "gold").name == "gold"
    assert tier_for_growth(RULES, 12_000, "platinum").name == "platinum"


@pytest.mark.parametrize(
    ("current", "period_growth_points", "expected"),
    [
        ("gold", 25_000, "gold"),  # exactly enough keeps the tier
        ("gold", 40_000, "gold"),
        ("gold", 24_999, "silver"),  # falls short of gold but keeps silver
        ("gold", 5_000, "silver"),
        ("gold", 4_999, "regular"),
        ("gold", 0, "regular"),
        ("platinum", 75_000, "platinum"),
        ("platinum", 74_999, "gold"),
        ("platinum", 30_000, "gold"),
        ("platinum", 100, "regular"),
        ("silver", 5_000, "silver"),
        ("silver", 4_999, "regular"),
        ("regular", 0, "regular"),
    ],
)
def test_tier_at_period_end(current: str, period_growth_points: int, expected: str) -> None:
    assert tier_at_period_end(RULES, current, period_growth_points).name == expected


def test_period_end_never_upgrades() -> None:
    # Upgrades happen when the points arrive (tier_for_growth), not at period end.
    assert tier_at_period_end(RULES, "silver", 1_000_000).name == "silver"


def test_next_tier() -> None:
    nxt = next_tier(RULES, "regular")
    assert nxt is not None
    assert nxt.name == "silver"
    assert nxt.growth_points_min == 10_000
    assert next_tier(RULES, "gold") == RULES.tier("platinum")
    assert next_tier(RULES, "platinum") is None


def test_unknown_tier_is_a_programmer_error() -> None:
    with pytest.raises(KeyError):
        RULES.tier("diamond")
    with pytest.raises(KeyError):
        tier_for_growth(RULES, 0, "diamond")


@pytest.mark.parametrize(
    ("last_activity_on", "today", "expected"),
    [
        (D(2024, 3, 15), D(2026, 3, 14), False),  # one day short of 24 months
        (D(2024, 3, 15), D(2026, 3, 15), True),  # 24 months to the day
        (D(2024, 3, 15), D(2030, 1, 1), True),
        (D(2024, 3, 15), D(2024, 3, 15), False),
        (D(2024, 2, 29), D(2026, 2, 27), False),  # 29 Feb + 24 months clamps to 28 Feb
        (D(2024, 2, 29), D(2026, 2, 28), True),
    ],
)
def test_termination_after_inactivity(last_activity_on: D, today: D, expected: bool) -> None:
    assert is_inactive(RULES, last_activity_on, today) is expected


def test_inactivity_months_come_from_the_rules() -> None:
    rules = make_rules(inactivity_months=6)
    assert not is_inactive(rules, D(2026, 1, 31), D(2026, 7, 30))
    assert is_inactive(rules, D(2026, 1, 31), D(2026, 7, 31))
