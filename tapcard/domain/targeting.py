"""Targeted campaigns: who a campaign reaches, where, and how much of it is left.

Every campaign kind can be limited to a segment of members (hub/segments.py evaluates
segments at the hub; a device knows the member's from the card's snapshot), to branches,
and to its window's days; it can carry a budget cap (discount and gift cost in cents,
extra points) and a per-member use limit, and hold out a stable share of its members as
a control group that never gets it, so that its effect is measured against them
(docs/rules.md "Targeted campaigns"). The fields sit flat in the campaign's JSON object,
as the window's do.

What is left of a budget is the hub's to know (its database, in the booking's
transaction: hub/campaign_book.py); a device quotes without it (`room` None).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from tapcard.domain.window import Window

SEGMENT_CODE_CHARS_MAX: Final = 48  # the hub's segments.code column
CAMPAIGN_BRANCHES_MAX: Final = 100
CAMPAIGN_FACTOR_PCT_MAX: Final = 1_000  # ten times the points: anything more is a typo
CAMPAIGN_BUDGET_MAX: Final = 10**12  # cents or points; the hub's BigInteger holds it
_SEGMENT_CODE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class CampaignKind(enum.StrEnum):
    SPEND_GET_OFF = "spend_get_off"  # spend X get Y off (optionally per each X), 满减
    PERCENT_OFF = "percent_off"  # percentage off the eligible subtotal
    NEW_MEMBER = "new_member"  # percentage off for members who joined recently
    GIFT = "gift"  # a gift handed over when the eligible subtotal reaches X
    DOUBLE_POINTS = "double_points"  # factor_pct on the sale's points (best, not stacked)


class Reached(Protocol):
    """What targeting needs to know about the member (engine.MemberContext has it)."""

    @property
    def segments(self) -> frozenset[str]: ...

    @property
    def held_out(self) -> frozenset[str]: ...

    @property
    def branch(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Targeted(Window):
    """Who, where and how much: every limit that is set must hold."""

    segment: str = ""  # a segment's code; "": every member
    branches: tuple[str, ...] = ()  # branch ids; empty: every branch
    budget_cents: int = 0  # discount plus gift cost the campaign may give; 0: no cap
    budget_points: int = 0  # extra points a double_points campaign may give; 0: no cap
    gift_cost_cents: int = 0  # what one gift costs the chain (budget and report)
    member_uses_max: int = 0  # uses per member over the campaign's life; 0: no limit
    control_percent: int = 0  # 0..100 of its members held out (hub/segments.held_out)

    @property
    def capped(self) -> bool:
        """Whether the hub keeps a budget row for it (hub/campaign_book.py)."""
        return bool(self.budget_cents or self.budget_points or self.member_uses_max)


@dataclass(frozen=True, slots=True)
class Room:
    """What is left of a capped campaign for one sale, as the hub counted it."""

    cents: int | None = None  # None: no cents budget
    points: int | None = None  # None: no points budget
    uses: int | None = None  # the member's uses left; None: no limit

    @property
    def spent(self) -> bool:
        return any(left is not None and left <= 0 for left in (self.cents, self.points, self.uses))


def room_of(campaign: Targeted, spent_cents: int, spent_points: int, member_uses: int) -> Room:
    """The room left from what the hub has counted for the campaign and the member."""
    return Room(
        cents=campaign.budget_cents - spent_cents if campaign.budget_cents else None,
        points=campaign.budget_points - spent_points if campaign.budget_points else None,
        uses=campaign.member_uses_max - member_uses if campaign.member_uses_max else None,
    )


def reaches(campaign: Targeted, code: str, member: Reached) -> bool:
    """Whether the campaign is meant for this member at this branch (the window and the
    budget are checked apart)."""
    if campaign.segment and campaign.segment not in member.segments:
        return False
    if campaign.branches and member.branch not in campaign.branches:
        return False
    return code not in member.held_out


def left_for(room: Mapping[str, Room] | None, code: str) -> Room | None:
    """A campaign's room, None when it is not counted (a device's quote, an uncapped one)."""
    return None if room is None else room.get(code)


def validate_targeting(campaign: Targeted, kind: CampaignKind, label: str) -> list[str]:
    """Every reason the campaign's targeting is unsound, each starting with `label`."""
    errors: list[str] = []
    seg = campaign.segment
    if seg and (len(seg) > SEGMENT_CODE_CHARS_MAX or not _SEGMENT_CODE.match(seg)):
        errors.append(f"{label}: segment is 1..{SEGMENT_CODE_CHARS_MAX} of a-z, 0-9, _ and -")
    branches = campaign.branches
    if len(branches) > CAMPAIGN_BRANCHES_MAX or not all(branches):
        errors.append(f"{label}: at most {CAMPAIGN_BRANCHES_MAX} branches, none empty")
    if len(set(branches)) != len(branches):
        errors.append(f"{label}: branches must not repeat")
    for name in ("budget_cents", "budget_points", "gift_cost_cents", "member_uses_max"):
        if not 0 <= getattr(campaign, name) <= CAMPAIGN_BUDGET_MAX:
            errors.append(f"{label}: {name} must be within 0..{CAMPAIGN_BUDGET_MAX}")
    if not 0 <= campaign.control_percent <= 100:
        errors.append(f"{label}: control_percent must be within 0..100")
    if campaign.budget_points and kind is not CampaignKind.DOUBLE_POINTS:
        errors.append(f"{label}: budget_points caps a double_points campaign only")
    if campaign.gift_cost_cents and kind is not CampaignKind.GIFT:
        errors.append(f"{label}: gift_cost_cents is a gift campaign's")
    if campaign.budget_cents and kind is CampaignKind.DOUBLE_POINTS:
        errors.append(f"{label}: a double_points campaign's budget is budget_points")
    return errors
