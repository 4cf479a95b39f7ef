"""Pure functions that apply a rule set: sale quotes, points, tiers, validity, backfill.

Devices call them to show a quote (also offline); the hub calls them again with the
rule version the device stamped on its intent and books the result. Same code, same
numbers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tapcard.domain.model import FeeKind
from tapcard.domain.programs import find_program
from tapcard.domain.rules import (
    BP_WHOLE,
    Campaign,
    CampaignKind,
    CatalogItem,
    RuleSet,
    Tier,
)
from tapcard.domain.targeting import Room, left_for, reaches
from tapcard.domain.window import is_birthday, joined_within

SALE_LINES_MAX = 200
SALE_LINE_QUANTITY_MAX = 10_000
SALE_LINE_PRICE_CENTS_MAX = 100_000_000  # one million in currency units
SALE_LINE_TEXT_LEN_MAX = 64  # category and sku; the hub's columns hold this much
VOUCHER_CODE_LEN = 12
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class SaleLine:
    category: str
    unit_price_cents: int  # retail price
    quantity: int = 1
    sku: str = ""


@dataclass(frozen=True, slots=True)
class Pricing:
    """What a sale's lines take from the product catalog (tapcard.domain.products)
    beyond their own price and category: each SKU's member price for the member's tier,
    superseding the rule set's price list for it, and the SKUs that earn no points."""

    member_cents: Mapping[str, int] = field(default_factory=dict)
    points_excluded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MemberContext:
    """What the rules need to know about the member at the moment of the sale."""

    tier: str
    joined_on: dt.date
    birthday: dt.date | None = None
    # A category or co-branded card's program code ("": a member card, earns as the
    # rules say) and the branch of the sale (where a co-branded card's partners are).
    program: str = ""
    branch: str = ""
    # Targeted campaigns (tapcard.domain.targeting): the member's segment codes and the
    # campaigns whose control group holds them (the hub's, or the snapshot's on a device).
    segments: frozenset[str] = frozenset()
    held_out: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SaleQuote:
    gross_cents: int  # retail total
    member_price_saving_cents: int  # retail minus member price list
    tier_discount_cents: int
    campaign_discount_cents: int
    net_cents: int  # what the member pays
    # Paid that earns nothing: excluded categories and, on a category or co-branded
    # card, the lines its program does not cover.
    excluded_cents: int
    earning_cents: int  # paid amount that earns points
    remainder_cents: int  # the fraction of a point's worth that earns nothing
    base_points: int  # before multipliers; also the growth points earned
    points: int  # after the best multiplier
    factor_pct: int
    campaigns: tuple[str, ...]
    campaign_offs: tuple[tuple[str, int], ...]  # (code, discount it gave), in order
    gifts: tuple[str, ...]
    # Extra points a double_points campaign gave over the best multiplier: (code, points).
    campaign_points: tuple[tuple[str, int], ...] = ()

    @property
    def growth(self) -> int:
        return self.base_points

    @property
    def discount_cents(self) -> int:
        saving, tier_off = self.member_price_saving_cents, self.tier_discount_cents
        return saving + tier_off + self.campaign_discount_cents


def validate_lines(lines: Sequence[SaleLine]) -> list[str]:
    errors: list[str] = []
    if not 1 <= len(lines) <= SALE_LINES_MAX:
        errors.append(f"a sale has 1..{SALE_LINES_MAX} lines")
    for i, line in enumerate(lines):
        if not 1 <= line.quantity <= SALE_LINE_QUANTITY_MAX:
            errors.append(f"line {i}: quantity must be within 1..{SALE_LINE_QUANTITY_MAX}")
        if not 0 <= line.unit_price_cents <= SALE_LINE_PRICE_CENTS_MAX:
            errors.append(f"line {i}: price must be within 0..{SALE_LINE_PRICE_CENTS_MAX}")
        if not 1 <= len(line.category) <= SALE_LINE_TEXT_LEN_MAX:
            errors.append(f"line {i}: category is 1..{SALE_LINE_TEXT_LEN_MAX} characters")
        if len(line.sku) > SALE_LINE_TEXT_LEN_MAX:
            errors.append(f"line {i}: sku is at most {SALE_LINE_TEXT_LEN_MAX} characters")
    return errors


def quote_sale(
    rules: RuleSet,
    member: MemberContext,
    lines: Sequence[SaleLine],
    on: dt.date,
    pricing: Pricing | None = None,
    room: Mapping[str, Room] | None = None,
) -> SaleQuote:
    """Price a sale: member prices, tier discount, campaigns, then points on what is paid.

    Excluded categories (group-buy, special offers) get no tier discount, no campaign
    and earn nothing, nor do the catalog's excluded SKUs (`pricing`). Campaign
    discounts come out of the eligible lines only; `room`: capped campaigns' budgets.
    On a category or co-branded card only the lines its program covers earn, after their
    share of the campaign discount (rounded against the card)."""
    assert not validate_lines(lines), validate_lines(lines)
    tier = rules.tier(member.tier)
    excluded = set(rules.earn.excluded_categories)
    prices = rules.price_lists.get(tier.name, {})
    no_points: frozenset[str] = frozenset()
    if pricing is not None:
        prices = {**prices, **pricing.member_cents}
        no_points = pricing.points_excluded
    program = find_program(rules.card_programs, member.program)
    gross = saving = tier_off = excluded_cents = eligible = covered = 0
    for line in lines:
        retail = line.unit_price_cents * line.quantity
        gross += retail
        if line.category in excluded or (line.sku and line.sku in no_points):
            excluded_cents += retail
            continue
        if line.sku and line.sku in prices:
            member_total = min(prices[line.sku], line.unit_price_cents) * line.quantity
            saving += retail - member_total
            paid = member_total  # a member price already replaces the tier discount
        else:
            line_off = retail * tier.discount_bp // BP_WHOLE
            tier_off += line_off
            paid = retail - line_off
        eligible += paid
        if program is None or program.earns(line.category, member.branch):
            covered += paid
    campaign_offs, gifts = _apply_campaigns(rules.campaigns, member, eligible, on, room)
    campaign_off = sum(off for _, off in campaign_offs)
    earning = covered - (-(-campaign_off * covered // eligible) if eligible else 0)
    excluded_cents += eligible - campaign_off - earning
    cents_per_point = (program and program.cents_per_point) or rules.earn.cents_per_point
    base_points, remainder = divmod(earning, cents_per_point)
    points, factor, extra = _campaign_points(rules, member, base_points, on, room)
    campaign_offs += tuple((code, 0) for code, _ in extra)  # a points campaign gives no cents
    quote = SaleQuote(
        gross_cents=gross,
        member_price_saving_cents=saving,
        tier_discount_cents=tier_off,
        campaign_discount_cents=campaign_off,
        net_cents=earning + excluded_cents,
        excluded_cents=excluded_cents,
        earning_cents=earning,
        remainder_cents=remainder,
        base_points=base_points,
        points=points,
        factor_pct=factor,
        campaigns=tuple(code for code, _ in campaign_offs),
        campaign_offs=campaign_offs,
        gifts=gifts,
        campaign_points=extra,
    )
    assert 0 <= campaign_off <= eligible
    assert quote.net_cents + quote.discount_cents == quote.gross_cents
    return quote


def points_factor_pct(rules: RuleSet, member: MemberContext, on: dt.date) -> int:
    """The best active multiplier (they do not stack): campaign windows and birthday."""
    factor = 100
    for mult in rules.multipliers:
        if mult.contains(on, member):
            factor = max(factor, mult.factor_pct)
    bonus, birthday = rules.birthday, member.birthday
    if bonus is None or birthday is None:
        return factor
    if is_birthday(birthday, on, whole_month=bonus.whole_month):
        factor = max(factor, bonus.factor_pct)
    return factor


def _runs(
    campaign: Campaign, member: MemberContext, on: dt.date, room: Mapping[str, Room] | None
) -> Room | bool | None:
    """False when the campaign does not run for this member today (window, target, spent
    budget); else its room (None: not counted)."""
    if not campaign.contains(on, member) or not reaches(campaign, campaign.code, member):
        return False
    left = left_for(room, campaign.code)
    return False if left is not None and left.spent else left


def _campaign_points(
    rules: RuleSet,
    member: MemberContext,
    base: int,
    on: dt.date,
    room: Mapping[str, Room] | None,
) -> tuple[int, int, tuple[tuple[str, int], ...]]:
    """(points, factor, extra): the best double_points campaign when it beats the best
    multiplier (they do not stack), its extra points trimmed to its points budget."""
    factor = points_factor_pct(rules, member, on)
    plain = base * factor // 100
    best: tuple[int, int, tuple[tuple[str, int], ...]] = (plain, factor, ())
    for campaign in rules.campaigns:
        if campaign.kind is not CampaignKind.DOUBLE_POINTS or campaign.factor_pct <= factor:
            continue
        left = _runs(campaign, member, on, room)
        if left is False:
            continue
        extra = base * campaign.factor_pct // 100 - plain
        if isinstance(left, Room) and left.points is not None:
            extra = min(extra, left.points)
        if extra > 0 and plain + extra > best[0]:
            best = (plain + extra, campaign.factor_pct, ((campaign.code, extra),))
    return best


def _apply_campaigns(
    campaigns: Sequence[Campaign],
    member: MemberContext,
    eligible_cents: int,
    on: dt.date,
    room: Mapping[str, Room] | None = None,
) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
    """All stackable campaigns plus the single best non-stackable one, capped at the sale.

    `room`: what is left of capped campaigns (the hub's count; None on a device, which
    cannot know it): a spent one does not apply, a discount is trimmed to what is left,
    a gift needs its whole cost.

    Returns each applied campaign with the discount it gave (a gift gives 0) and the gifts.
    """
    best_off, best_code = 0, ""
    applied: list[tuple[str, int]] = []
    gifts: list[str] = []
    for campaign in campaigns:
        left = _runs(campaign, member, on, room)
        if left is False or campaign.kind is CampaignKind.DOUBLE_POINTS:
            continue
        if eligible_cents < campaign.min_spend_cents:
            continue
        cents_left = left.cents if isinstance(left, Room) else None
        if campaign.kind is CampaignKind.GIFT:
            if cents_left is not None and campaign.gift_cost_cents > cents_left:
                continue  # a gift is handed over whole or not at all
            gifts.append(campaign.gift)
            applied.append((campaign.code, 0))
            continue
        off = _campaign_off_cents(campaign, member, eligible_cents, on)
        if cents_left is not None:
            off = min(off, cents_left)
        if off <= 0:
            continue
        if campaign.stackable:
            applied.append((campaign.code, off))
        elif off > best_off:
            best_off, best_code = off, campaign.code
    if best_code:
        applied.append((best_code, best_off))
    return _cap_discounts(applied, eligible_cents), tuple(gifts)


def _cap_discounts(applied: list[tuple[str, int]], cap_cents: int) -> tuple[tuple[str, int], ...]:
    """Trim discounts in order of application so that together they never exceed the cap."""
    capped, room = [], cap_cents
    for code, off in applied:
        given = min(off, room)
        room -= given
        capped.append((code, given))
    assert sum(off for _, off in capped) <= cap_cents
    return tuple(capped)


def _campaign_off_cents(
    campaign: Campaign, member: MemberContext, eligible_cents: int, on: dt.date
) -> int:
    if campaign.kind is CampaignKind.SPEND_GET_OFF:
        times = eligible_cents // campaign.min_spend_cents if campaign.repeat else 1
        return campaign.off_cents * times
    if campaign.kind is CampaignKind.PERCENT_OFF:
        return eligible_cents * campaign.percent_bp // BP_WHOLE
    if campaign.kind is CampaignKind.NEW_MEMBER:
        if not joined_within(member.joined_on, on, campaign.new_member_days):
            return 0  # not a new member (or a sale dated before joining)
        return eligible_cents * campaign.percent_bp // BP_WHOLE
    return 0


def tier_for_growth(rules: RuleSet, growth_points: int, current: str) -> Tier:
    """Upgrade at once when growth points reach a higher tier; never downgrade here."""
    reached = rules.tiers[0]
    for tier in rules.tiers:
        if growth_points >= tier.growth_points_min:
            reached = tier
    current_tier = rules.tier(current)
    return reached if reached.growth_points_min > current_tier.growth_points_min else current_tier


def tier_at_period_end(rules: RuleSet, current: str, period_growth_points: int) -> Tier:
    """At the end of the validity period: keep the tier if the period earned enough to,
    else drop to the highest lower tier that the period's growth points keep."""
    index = [t.name for t in rules.tiers].index(current)
    for tier in reversed(rules.tiers[: index + 1]):
        if period_growth_points >= tier.keep_growth_points_min:
            return tier
    return rules.tiers[0]


def next_tier(rules: RuleSet, current: str) -> Tier | None:
    names = [t.name for t in rules.tiers]
    index = names.index(current)
    return rules.tiers[index + 1] if index + 1 < len(rules.tiers) else None


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 -> 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def card_expires_on(rules: RuleSet, issued_on: dt.date) -> dt.date:
    return add_months(issued_on, rules.card_validity_months)


def renewed_expiry(rules: RuleSet, expires_on: dt.date, today: dt.date) -> dt.date:
    """Renewal extends from the old expiry if still valid, else from today."""
    return add_months(max(expires_on, today), rules.card_validity_months)


def is_inactive(rules: RuleSet, last_activity_on: dt.date, today: dt.date) -> bool:
    return add_months(last_activity_on, rules.inactivity_months) <= today


def backfill_error(rules: RuleSet, receipt_on: dt.date, today: dt.date) -> str | None:
    """Why a receipt cannot be backfilled today (None when it can)."""
    if receipt_on > today:
        return "the receipt is dated in the future"
    age_days = (today - receipt_on).days
    if age_days > rules.backfill_window_days:
        return (
            f"the receipt is {age_days} days old; backfill is allowed within "
            f"{rules.backfill_window_days} days"
        )
    return None


def fee_cents(rules: RuleSet, kind: FeeKind) -> int:
    """What the rule set charges for a fee of this kind."""
    fees = rules.fees
    amounts = {
        FeeKind.JOINING: fees.joining_cents,
        FeeKind.ANNUAL: fees.annual_cents,
        FeeKind.SUPPLEMENTARY: fees.supplementary_cents,
        FeeKind.REPLACEMENT: fees.replacement_cents,
    }
    assert set(amounts) == set(FeeKind)
    return amounts[kind]


def redemption_points(item: CatalogItem, units: int) -> int:
    assert 1 <= units <= item.units_max
    return item.points * units


def voucher_code(secret: bytes, tx_id: str) -> str:
    """A short, unguessable voucher code bound to the transfer: the same intent
    delivered twice yields the same code."""
    digest = hmac.new(secret, tx_id.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(VOUCHER_CODE_LEN):
        number, index = divmod(number, 32)
        chars.append(_CROCKFORD[index])
    code = "".join(chars)
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


_CROCKFORD_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def parse_voucher_code(text: str) -> str | None:
    """A voucher code as printed (`XXXX-XXXX-XXXX`) from what was typed or scanned:
    any case, with or without dashes and spaces, I/L read as 1 and O as 0 (Crockford's
    base 32). None when it cannot be one."""
    plain = "".join(text.upper().split()).replace("-", "").translate(_CROCKFORD_ALIASES)
    if len(plain) != VOUCHER_CODE_LEN or any(c not in _CROCKFORD for c in plain):
        return None
    return f"{plain[:4]}-{plain[4:8]}-{plain[8:]}"
