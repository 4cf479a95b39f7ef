"""Names of things in the membership domain: assets, card kinds and states, masking."""

from __future__ import annotations

import enum


class Asset(enum.StrEnum):
    """What a ledger leg moves. Amounts are always integers in the asset's minor unit."""

    CENTS = "cents"  # money: stored value, cash, revenue, discounts, fees
    POINTS = "points"  # redeemable points
    GROWTH = "growth"  # growth points: only count towards tiers, never redeemed


class CardKind(enum.StrEnum):
    MEMBER = "member"  # tiered member card, the primary card of an account
    SUPPLEMENTARY = "supplementary"  # family/company card on the primary's accounts
    CATEGORY = "category"  # card for one category of service (e.g. car wash club)
    COBRANDED = "cobranded"  # issued with a partner
    PARKING = "parking"  # car-park card


class CardState(enum.StrEnum):
    ACTIVE = "active"
    LOST = "lost"
    REPLACED = "replaced"
    EXPIRED = "expired"
    TERMINATED = "terminated"


CARD_STATES_USABLE = frozenset({CardState.ACTIVE})
# A lost, replaced or terminated card never comes back; an expired one is renewed.
CARD_STATES_FINAL = frozenset({CardState.LOST, CardState.REPLACED, CardState.TERMINATED})


class TxKind(enum.StrEnum):
    """Kinds of ledger transfer. 'Transaction' means a database transaction elsewhere."""

    PURCHASE = "purchase"
    TOPUP = "topup"
    SPEND = "spend"
    REDEEM = "redeem"
    BACKFILL = "backfill"
    FEE = "fee"
    RENEWAL = "renewal"
    REPLACEMENT = "replacement"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"


class Payment(enum.StrEnum):
    CASH = "cash"
    STORED_VALUE = "stored_value"


class FeeKind(enum.StrEnum):
    JOINING = "joining"
    ANNUAL = "annual"
    SUPPLEMENTARY = "supplementary"
    REPLACEMENT = "replacement"


class SystemAccount(enum.StrEnum):
    """The chain's own accounts; each holds one asset (see SYSTEM_ACCOUNT_ASSET)."""

    CASH = "cash"  # money taken at counters
    SALES = "sales"  # gross sales revenue
    DISCOUNTS = "discounts"  # discounts given (contra-revenue)
    FEES = "fees"  # fee revenue
    POINTS_ISSUED = "points_issued"  # the other side of every point earned
    POINTS_REDEEMED = "points_redeemed"  # where redeemed points go
    GROWTH_ISSUED = "growth_issued"
    ADJUSTMENTS_CENTS = "adjustments_cents"
    ADJUSTMENTS_POINTS = "adjustments_points"


SYSTEM_ACCOUNT_ASSET: dict[SystemAccount, Asset] = {
    SystemAccount.CASH: Asset.CENTS,
    SystemAccount.SALES: Asset.CENTS,
    SystemAccount.DISCOUNTS: Asset.CENTS,
    SystemAccount.FEES: Asset.CENTS,
    SystemAccount.POINTS_ISSUED: Asset.POINTS,
    SystemAccount.POINTS_REDEEMED: Asset.POINTS,
    SystemAccount.GROWTH_ISSUED: Asset.GROWTH,
    SystemAccount.ADJUSTMENTS_CENTS: Asset.CENTS,
    SystemAccount.ADJUSTMENTS_POINTS: Asset.POINTS,
}
assert set(SYSTEM_ACCOUNT_ASSET) == set(SystemAccount)


def mask_id_number(id_number: str) -> str:
    """Keep the first 4 and last 4 characters of a national ID number, star the rest."""
    text = id_number.strip()
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_name(name: str) -> str:
    """First character and, for longer names, the last one: 'Li Wei' -> 'L****i'."""
    text = name.strip()
    if len(text) <= 1:
        return text
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(phone: str) -> str:
    text = phone.strip()
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]
