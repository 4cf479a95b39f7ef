"""Builders shared by the domain tests: one small, valid rule set and terse sale lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tapcard.domain.engine import MemberContext, SaleLine
from tapcard.domain.rules import RuleSet, Tier

D = dt.date
JOINED_LONG_AGO = D(2020, 1, 1)

TIERS = (
    Tier("regular", 0, discount_bp=0, keep_growth_points_min=0),
    Tier("silver", 10_000, discount_bp=300, keep_growth_points_min=5_000),
    Tier("gold", 50_000, discount_bp=500, keep_growth_points_min=25_000),
    Tier("platinum", 150_000, discount_bp=800, keep_growth_points_min=75_000),
)


def make_rules(**changes: Any) -> RuleSet:
    """The test chain's rules: four tiers, 1 point per yuan, no campaigns unless given."""
    return dataclasses.replace(RuleSet(version=1, name="test chain", tiers=TIERS), **changes)


def member(
    tier: str = "regular", joined_on: dt.date = JOINED_LONG_AGO, birthday: dt.date | None = None
) -> MemberContext:
    return MemberContext(tier=tier, joined_on=joined_on, birthday=birthday)


def line(cents: int, category: str = "grocery", quantity: int = 1, sku: str = "") -> SaleLine:
    return SaleLine(category=category, unit_price_cents=cents, quantity=quantity, sku=sku)
