"""The rule set: membership policies as versioned data.

A rule set is loaded at the hub (`tapcard hub rules load`), published retained on
`tapcard/v1/rules` and applied by the same pure functions on devices and hub
(`tapcard.domain.engine`). Every applied transfer is stamped with the version it used.
Percentages are basis points (1 bp = 0.01 %), money is integer cents.
"""

from __future__ import annotations

import enum
import itertools
import zoneinfo
from dataclasses import dataclass, field

from tapcard.domain.model import CardKind, DeviceKind, Payment, TxKind
from tapcard.domain.programs import CardProgram, validate_programs
from tapcard.domain.targeting import CampaignKind as CampaignKind  # noqa: PLC0414 (re-export)
from tapcard.domain.targeting import Targeted, validate_targeting
from tapcard.domain.window import Window, validate_window

BP_WHOLE = 10_000  # basis points in 100 %
RULES_TIERS_MAX = 16
RULES_CATALOG_ITEMS_MAX = 500
RULES_CAMPAIGNS_MAX = 200
RULES_PRICE_LIST_ITEMS_MAX = 20_000
RULES_CAPABILITIES_MAX = 200
# The hub refuses a sequence number further ahead of the next expected one than this; an
# outbox never holds more (validate_rules), so a device's resend always fits.
SEQ_AHEAD_MAX = 10_000
BUSINESS_TIME_ZONE_DEFAULT = "Asia/Shanghai"
# A voucher's place (branches, device kinds) is stored with it as one separated text.
VOUCHER_PLACE_SEPARATOR = ","
VOUCHER_PLACE_CHARS_MAX = 500
POINTS_EXPIRY_MONTHS_MAX = 120
POINTS_EXPIRY_YEARS_MAX = 10
POINT_COST_MILLICENTS_MAX = 1_000_000  # ten yuan a point: anything more is a typo
# Card kinds that carry the member's stored value: a clone of one spends real money, so
# their tags are never accepted without an originality signature.
CARD_KINDS_STORED_VALUE = frozenset(
    {CardKind.MEMBER, CardKind.SUPPLEMENTARY, CardKind.CATEGORY, CardKind.COBRANDED}
)


class ExpiryScheme(enum.StrEnum):
    NONE = "none"  # points never expire
    ROLLING = "rolling"  # earned in a month: expire at the end of the month N months later
    CALENDAR = "calendar"  # earned in a year: expire at the end of the year N years later


class CatalogKind(enum.StrEnum):
    PARKING = "parking"
    CAR_WASH = "car_wash"
    PRIZE = "prize"


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    growth_points_min: int  # reaching this many growth points upgrades at once
    discount_bp: int = 0  # tier discount on eligible lines
    # Growth points earned within the validity period needed to keep the tier at the
    # period's end; below it the member drops to the highest tier the period supports.
    keep_growth_points_min: int = 0


@dataclass(frozen=True, slots=True)
class EarnRule:
    cents_per_point: int = 100  # 1 point per currency unit; the remainder earns nothing
    excluded_categories: tuple[str, ...] = ("group_buy", "special_offer")


@dataclass(frozen=True, slots=True)
class Multiplier(Window):
    """Points multiplier on the days of its window (e.g. every December)."""

    name: str
    factor_pct: int  # 200 = double points


@dataclass(frozen=True, slots=True)
class BirthdayBonus:
    factor_pct: int = 200
    whole_month: bool = False  # False: on the birthday itself; True: the birthday month


@dataclass(frozen=True, slots=True)
class Fees:
    joining_cents: int = 0
    annual_cents: int = 0
    supplementary_cents: int = 0
    replacement_cents: int = 0


@dataclass(frozen=True, slots=True)
class Campaign(Targeted):
    """A discount, gift or points factor on the days of its window, for whom and where
    it targets, within its budget (tapcard.domain.targeting)."""

    code: str
    kind: CampaignKind
    min_spend_cents: int = 0  # eligible subtotal needed
    off_cents: int = 0  # SPEND_GET_OFF: amount off
    repeat: bool = False  # SPEND_GET_OFF: off_cents for each full min_spend_cents
    percent_bp: int = 0  # PERCENT_OFF / NEW_MEMBER
    new_member_days: int = 0  # NEW_MEMBER: days since joining
    gift: str = ""  # GIFT: what is handed over
    stackable: bool = False  # False: only the best non-stackable campaign applies
    factor_pct: int = 0  # DOUBLE_POINTS: 200 = double points


@dataclass(frozen=True, slots=True)
class PointsExpiry:
    """When earned points expire (tapcard.domain.expiry), and what one point costs the
    chain while it is outstanding (the points liability report)."""

    scheme: ExpiryScheme = ExpiryScheme.NONE
    months: int = 12  # ROLLING: earned in March, expire at the end of March a year later
    years: int = 1  # CALENDAR: earned in 2026, expire on 31 December 2027
    point_cost_millicents: int = 0  # liability per outstanding point (1000 = one cent)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    code: str
    kind: CatalogKind
    name: str
    points: int  # per unit: per hour of parking, per wash, per prize
    units_max: int = 1  # parking: most hours in one redemption
    stock: int | None = None  # prizes: initial stock; None means unlimited
    # The voucher a redemption issues: days it is valid from the hub's time of issue
    # (0: no expiry), and where it counts (branch ids and device kinds; empty: anywhere).
    valid_days: int = 0
    branches: tuple[str, ...] = ()
    device_kinds: tuple[DeviceKind, ...] = ()
    points_back_on_expiry: bool = False  # an unused expired voucher gives its points back


@dataclass(frozen=True, slots=True)
class OfflinePolicy:
    """What a device may decide alone while the hub is unreachable."""

    cache_age_s_max: int = 24 * 3600  # refuse cards whose snapshot is older
    card_daily_points_max: int = 2_000  # redemption per card per day while offline
    card_daily_cents_max: int = 20_000  # stored-value spend per card per day offline
    device_daily_cents_max: int = 200_000  # all stored-value spend of one device per day
    outbox_len_max: int = 10_000


@dataclass(frozen=True, slots=True)
class StoredValuePolicy:
    """What a prepaid card may hold and take in one top-up. A member registered by real
    name (an ID number checked at registration) may have the higher limits."""

    card_cents_max: int = 100_000  # balance after a top-up, anonymous member
    topup_cents_max: int = 100_000  # one top-up, anonymous member
    real_name_card_cents_max: int = 500_000
    real_name_topup_cents_max: int = 500_000


# The operations a device sends in an intent (the rest are booked at HQ).
INTENT_KINDS = frozenset(
    {
        TxKind.PURCHASE,
        TxKind.TOPUP,
        TxKind.SPEND,
        TxKind.REDEEM,
        TxKind.BACKFILL,
        TxKind.FEE,
        TxKind.RENEWAL,
        TxKind.REFUND,
    }
)


@dataclass(frozen=True, slots=True)
class Capability:
    """One row of the capability table: a device kind may send this operation.

    Rows of the same kind and operation add up: the intent needs one row that matches
    its tender and branch and whose bound covers its amount (the sale's gross, the
    top-up or spend; redemptions and fees are bounded by the catalog and the fees).
    """

    device: DeviceKind
    operation: TxKind
    tender: Payment | None = None  # None: any tender, and operations without one
    branches: tuple[str, ...] = ()  # empty: every branch
    amount_cents_max: int = 0  # per intent; 0: no bound beyond the message schema's


class OverrideScope(enum.StrEnum):
    BRANCH = "branch"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class Override:
    """What one branch or one device does unlike the chain; merged by
    tapcard.domain.overrides.effective_rules (device over branch over chain)."""

    scope: OverrideScope
    id: str  # the branch's or the device's id
    earn: EarnRule | None = None  # replaces the chain's earning rate
    campaigns: tuple[Campaign, ...] = ()  # added, or replacing the chain's of the same code
    campaigns_off: tuple[str, ...] = ()  # codes of campaigns that do not run here
    catalog: tuple[CatalogItem, ...] = ()  # added, or replacing the item of the same code
    catalog_off: tuple[str, ...] = ()  # codes of items not offered here
    price_lists: dict[str, dict[str, int]] = field(default_factory=dict)  # over the chain's
    # Rows for the (device kind, operation) pairs they name replace the chain's rows.
    capabilities: tuple[Capability, ...] = ()
    # SKU -> retail cents here, over the product catalog's; SKUs not sold here.
    product_prices: dict[str, int] = field(default_factory=dict)
    products_off: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    name: str
    currency: str = "CNY"
    earn: EarnRule = field(default_factory=EarnRule)
    multipliers: tuple[Multiplier, ...] = ()
    birthday: BirthdayBonus | None = None
    tiers: tuple[Tier, ...] = (Tier("regular", 0),)
    card_validity_months: int = 24
    inactivity_months: int = 24  # membership terminated after this long without activity
    backfill_window_days: int = 30
    fees: Fees = field(default_factory=Fees)
    campaigns: tuple[Campaign, ...] = ()
    # tier name -> sku -> member price in cents (vs the retail price on the line)
    price_lists: dict[str, dict[str, int]] = field(default_factory=dict)
    catalog: tuple[CatalogItem, ...] = ()
    offline: OfflinePolicy = field(default_factory=OfflinePolicy)
    # Card kinds whose NFC tags may do without an originality signature (else refused
    # as suspected clones): only kinds outside CARD_KINDS_STORED_VALUE (validated).
    unchecked_tag_kinds: tuple[CardKind, ...] = ()
    # None: a rule set from before the table; tapcard.domain.authority's defaults apply.
    capabilities: tuple[Capability, ...] | None = None
    stored_value_cents_max: int | None = None  # per card; older rule sets (see stored_value)
    # None: a rule set from before the policy; tapcard.domain.authority derives one.
    stored_value: StoredValuePolicy | None = None
    time_zone: str = BUSINESS_TIME_ZONE_DEFAULT  # the business day of campaigns and limits
    # Joining by spend instead of the joining fee: a provisional member whose net
    # purchases reach join_spend_cents within join_spend_days of joining is a full member
    # (both 0: joining by spend is not offered). docs/rules.md "Joining".
    join_spend_cents: int = 0
    join_spend_days: int = 0
    points_expiry: PointsExpiry = field(default_factory=PointsExpiry)
    # Category and co-branded cards: where each earns (tapcard/domain/programs.py).
    card_programs: tuple[CardProgram, ...] = ()
    overrides: tuple[Override, ...] = ()  # per branch or device (docs/rules.md "Overrides")
    # An effective rule set's override and digest ("branch:shop-1@<digest>"), and its
    # product prices and SKUs not sold (tapcard.domain.overrides.branch_products): set by
    # effective_rules, never in a loaded file.
    effective: str = ""
    product_prices: dict[str, int] = field(default_factory=dict)
    products_off: tuple[str, ...] = ()

    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)

    def catalog_item(self, code: str) -> CatalogItem | None:
        for item in self.catalog:
            if item.code == code:
                return item
        return None


def unchecked_tag_allowed(rules: RuleSet | None, kind: str) -> bool:
    """Whether a tag of a card of this kind (as the hub reports it) may be accepted
    without its originality signature; never for a stored-value kind, validated or not."""
    if rules is None or kind in CARD_KINDS_STORED_VALUE:
        return False
    return kind in {k.value for k in rules.unchecked_tag_kinds}


def validate_rules(rules: RuleSet) -> list[str]:
    """Every reason this rule set cannot be loaded; empty when it is sound."""
    errors: list[str] = []
    if rules.version < 1:
        errors.append("version must be >= 1")
    if not _is_currency_code(rules.currency):
        errors.append("currency must be an ISO 4217 code such as CNY")
    errors += _validate_tiers(rules.tiers)
    if rules.earn.cents_per_point < 1:
        errors.append("earn.cents_per_point must be >= 1")
    for mult in rules.multipliers:
        if mult.factor_pct < 100:
            errors.append(f"multiplier {mult.name}: factor_pct must be >= 100")
        errors += validate_window(mult, f"multiplier {mult.name}")
    if rules.birthday is not None and rules.birthday.factor_pct < 100:
        errors.append("birthday.factor_pct must be >= 100")
    for name, value in _non_negative_ints(rules):
        if value < 0:
            errors.append(f"{name} must be >= 0")
    if rules.offline.card_daily_cents_max > rules.offline.device_daily_cents_max:
        errors.append("offline.card_daily_cents_max cannot exceed device_daily_cents_max")
    errors += _validate_campaigns(rules.campaigns)
    errors += _validate_catalog(rules.catalog)
    errors += _validate_authority(rules)
    errors += _validate_expiry(rules.points_expiry)
    errors += validate_programs(rules.card_programs)
    errors += [
        f"unchecked_tag_kinds: {kind.value} cards spend stored value, their tags must be checked"
        for kind in rules.unchecked_tag_kinds
        if kind in CARD_KINDS_STORED_VALUE
    ]
    for tier_name, prices in rules.price_lists.items():
        if tier_name not in {t.name for t in rules.tiers}:
            errors.append(f"price list for unknown tier {tier_name}")
        if len(prices) > RULES_PRICE_LIST_ITEMS_MAX:
            errors.append(f"price list {tier_name} is longer than {RULES_PRICE_LIST_ITEMS_MAX}")
        errors += [f"price {tier_name}/{sku} must be >= 0" for sku, p in prices.items() if p < 0]
    return errors


def is_time_zone(name: str) -> bool:
    # The zone database is the standard library's own data, read once per zone.
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _validate_authority(rules: RuleSet) -> list[str]:
    errors = _validate_capabilities(rules.capabilities or ())
    if rules.offline.outbox_len_max > SEQ_AHEAD_MAX:
        errors.append(f"offline.outbox_len_max cannot exceed {SEQ_AHEAD_MAX}")
    if rules.stored_value_cents_max is not None and rules.stored_value_cents_max < 1:
        errors.append("stored_value_cents_max must be >= 1")
    errors += _validate_stored_value(rules)
    if (rules.join_spend_cents > 0) != (rules.join_spend_days > 0):
        errors.append("join_spend_cents and join_spend_days are both set or both 0")
    if not is_time_zone(rules.time_zone):
        errors.append(f"time_zone {rules.time_zone!r} is not a known zone such as Asia/Shanghai")
    return errors


def _validate_expiry(expiry: PointsExpiry) -> list[str]:
    errors: list[str] = []
    if not 1 <= expiry.months <= POINTS_EXPIRY_MONTHS_MAX:
        errors.append(f"points_expiry.months must be within 1..{POINTS_EXPIRY_MONTHS_MAX}")
    if not 1 <= expiry.years <= POINTS_EXPIRY_YEARS_MAX:
        errors.append(f"points_expiry.years must be within 1..{POINTS_EXPIRY_YEARS_MAX}")
    if not 0 <= expiry.point_cost_millicents <= POINT_COST_MILLICENTS_MAX:
        errors.append(
            f"points_expiry.point_cost_millicents must be within 0..{POINT_COST_MILLICENTS_MAX}"
        )
    return errors


def _validate_stored_value(rules: RuleSet) -> list[str]:
    policy = rules.stored_value
    if policy is None:
        return []
    errors: list[str] = []
    if rules.stored_value_cents_max is not None:
        errors.append("give stored_value or stored_value_cents_max, not both")
    for name in (
        "card_cents_max",
        "topup_cents_max",
        "real_name_card_cents_max",
        "real_name_topup_cents_max",
    ):
        if getattr(policy, name) < 1:
            errors.append(f"stored_value.{name} must be >= 1")
    if policy.real_name_card_cents_max < policy.card_cents_max:
        errors.append("stored_value.real_name_card_cents_max cannot be below card_cents_max")
    if policy.real_name_topup_cents_max < policy.topup_cents_max:
        errors.append("stored_value.real_name_topup_cents_max cannot be below topup_cents_max")
    return errors


def _validate_capabilities(capabilities: tuple[Capability, ...]) -> list[str]:
    errors: list[str] = []
    if len(capabilities) > RULES_CAPABILITIES_MAX:
        errors.append(f"at most {RULES_CAPABILITIES_MAX} capabilities")
    for cap in capabilities:
        what = f"capability {cap.device.value}/{cap.operation.value}"
        if cap.operation not in INTENT_KINDS:
            errors.append(f"{what}: devices never send {cap.operation.value}")
        if cap.amount_cents_max < 0:
            errors.append(f"{what}: amount_cents_max must be >= 0")
    return errors


def _is_currency_code(text: str) -> bool:
    return len(text) == 3 and text.isascii() and text.isalpha() and text.isupper()


def _non_negative_ints(rules: RuleSet) -> list[tuple[str, int]]:
    fees, offline = rules.fees, rules.offline
    return [
        ("card_validity_months", rules.card_validity_months),
        ("inactivity_months", rules.inactivity_months),
        ("backfill_window_days", rules.backfill_window_days),
        ("fees.joining_cents", fees.joining_cents),
        ("fees.annual_cents", fees.annual_cents),
        ("fees.supplementary_cents", fees.supplementary_cents),
        ("fees.replacement_cents", fees.replacement_cents),
        ("join_spend_cents", rules.join_spend_cents),
        ("join_spend_days", rules.join_spend_days),
        ("offline.cache_age_s_max", offline.cache_age_s_max),
        ("offline.card_daily_points_max", offline.card_daily_points_max),
        ("offline.card_daily_cents_max", offline.card_daily_cents_max),
        ("offline.device_daily_cents_max", offline.device_daily_cents_max),
        ("offline.outbox_len_max", offline.outbox_len_max),
    ]


def _validate_tiers(tiers: tuple[Tier, ...]) -> list[str]:
    errors: list[str] = []
    if not tiers or len(tiers) > RULES_TIERS_MAX:
        return [f"between 1 and {RULES_TIERS_MAX} tiers are required"]
    if tiers[0].growth_points_min != 0:
        errors.append("the first tier must start at 0 growth points")
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        errors.append("tier names must be unique")
    for lower, upper in itertools.pairwise(tiers):
        if upper.growth_points_min <= lower.growth_points_min:
            errors.append(f"tier {upper.name} must need more growth points than {lower.name}")
        # A higher tier that is easier to keep would let a member keep it with growth that
        # drops a lower-tier member: tier_at_period_end assumes this order.
        if upper.keep_growth_points_min < lower.keep_growth_points_min:
            errors.append(f"tier {upper.name} cannot be easier to keep than {lower.name}")
    for tier in tiers:
        if not 0 <= tier.discount_bp <= BP_WHOLE:
            errors.append(f"tier {tier.name}: discount_bp must be within 0..{BP_WHOLE}")
        if tier.keep_growth_points_min < 0:
            errors.append(f"tier {tier.name}: keep_growth_points_min must be >= 0")
    return errors


_CAMPAIGN_KINDS_PERCENT = frozenset({CampaignKind.PERCENT_OFF, CampaignKind.NEW_MEMBER})


def _validate_campaigns(campaigns: tuple[Campaign, ...]) -> list[str]:
    errors: list[str] = []
    if len(campaigns) > RULES_CAMPAIGNS_MAX:
        errors.append(f"at most {RULES_CAMPAIGNS_MAX} campaigns")
    codes = [c.code for c in campaigns]
    if len(set(codes)) != len(codes):
        errors.append("campaign codes must be unique")
    for c in campaigns:
        errors += validate_window(c, f"campaign {c.code}")
        if min(c.min_spend_cents, c.off_cents, c.new_member_days) < 0:
            errors.append(f"campaign {c.code}: amounts must be >= 0")
        if not 0 <= c.percent_bp <= BP_WHOLE:
            errors.append(f"campaign {c.code}: percent_bp must be within 0..{BP_WHOLE}")
        if c.kind is CampaignKind.SPEND_GET_OFF and (c.min_spend_cents <= 0 or c.off_cents <= 0):
            errors.append(f"campaign {c.code}: spend_get_off needs min_spend_cents and off_cents")
        if c.kind is CampaignKind.SPEND_GET_OFF and c.off_cents > c.min_spend_cents:
            errors.append(f"campaign {c.code}: off_cents cannot exceed min_spend_cents")
        if c.kind in _CAMPAIGN_KINDS_PERCENT and c.percent_bp <= 0:
            errors.append(f"campaign {c.code}: {c.kind.value} needs percent_bp > 0")
        if c.kind is CampaignKind.GIFT and not c.gift:
            errors.append(f"campaign {c.code}: a gift campaign names its gift")
        if (c.kind is CampaignKind.DOUBLE_POINTS) != (c.factor_pct > 0) or c.factor_pct > 1000:
            errors.append(f"campaign {c.code}: factor_pct 101..1000 on double_points only")
        errors += validate_targeting(c, c.kind, f"campaign {c.code}")
    return errors


def _validate_catalog(catalog: tuple[CatalogItem, ...]) -> list[str]:
    errors: list[str] = []
    if len(catalog) > RULES_CATALOG_ITEMS_MAX:
        errors.append(f"at most {RULES_CATALOG_ITEMS_MAX} catalog items")
    codes = [item.code for item in catalog]
    if len(set(codes)) != len(codes):
        errors.append("catalog codes must be unique")
    for item in catalog:
        if item.points <= 0 or item.units_max < 1:
            errors.append(f"catalog {item.code}: points > 0 and units_max >= 1")
        if item.stock is not None and item.stock < 0:
            errors.append(f"catalog {item.code}: stock must be >= 0")
        if item.valid_days < 0:
            errors.append(f"catalog {item.code}: valid_days must be >= 0")
        if item.points_back_on_expiry and item.valid_days == 0:
            errors.append(f"catalog {item.code}: points_back_on_expiry needs valid_days > 0")
        errors += _validate_place(item)
    return errors


def _validate_place(item: CatalogItem) -> list[str]:
    errors = []
    if any(not b or VOUCHER_PLACE_SEPARATOR in b for b in item.branches):
        errors.append(f"catalog {item.code}: a branch id is not empty and has no comma")
    if len(VOUCHER_PLACE_SEPARATOR.join(item.branches)) > VOUCHER_PLACE_CHARS_MAX:
        errors.append(f"catalog {item.code}: branches take at most {VOUCHER_PLACE_CHARS_MAX} chars")
    return errors
