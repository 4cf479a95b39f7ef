"""Names of things in the membership domain: assets, card kinds and states, roles, masking."""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Final


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

# A card id as cards, devices and the hub accept it (always used with fullmatch/match ^$).
CARD_ID_RE: Final = re.compile(r"^[A-Za-z0-9-]{1,32}$")
STAFF_CARD_PREFIX: Final = "S-"  # a staff card's card id: S-<staff id>


class MemberStatus(enum.StrEnum):
    """Whether a member's account is open. A terminated account's cards are all unusable;
    a merged one (the same person as another member, who now holds its balances and
    cards) is closed for good."""

    ACTIVE = "active"
    TERMINATED = "terminated"
    MERGED = "merged"


class StaffRole(enum.StrEnum):
    """What a counter staff member may do: a manager also waives fees and reverses."""

    CASHIER = "cashier"
    MANAGER = "manager"


def effective_card_state(
    state: str,
    expires_on: dt.date | None,
    today: dt.date,
    member: str = MemberStatus.ACTIVE,
) -> CardState | None:
    """The state a card is in today, as the hub and the devices both judge it.

    An active card past its expiry date is expired (the stored state changes only when
    someone renews it), and every card of a terminated member is terminated. None is a
    state this version does not know (a newer hub's): never usable.
    """
    if member in (MemberStatus.TERMINATED, MemberStatus.MERGED):
        return CardState.TERMINATED
    try:
        known = CardState(state)
    except ValueError:
        return None
    if known is CardState.ACTIVE and expires_on is not None and expires_on < today:
        return CardState.EXPIRED
    return known


def card_allows(state: CardState | None, renewal: bool) -> bool:
    """An active card may do anything; an expired one only its renewal."""
    return state is CardState.ACTIVE or (state is CardState.EXPIRED and renewal)


class DeviceKind(enum.StrEnum):
    """What a provisioned device is (the devices table's kind): what it may send follows."""

    KIOSK = "kiosk"  # self-service: members redeem points and look up their card
    TERMINAL = "terminal"  # staffed counter: sales, top-ups, backfills, fees
    GATE = "gate"  # a car park's exit barrier: consumes parking vouchers only
    WASH_BAY = "wash_bay"  # a wash bay controller: consumes car-wash vouchers only


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
    VOUCHER_EXPIRY = "voucher_expiry"  # an unused expired voucher's points given back
    EXPIRY = "expiry"  # points past their expiry date (hub/expiry.py, daily)
    MERGE = "merge"  # one member's balances moved to the member they are the same as
    REFUND = "refund"
    PAYOUT = "payout"  # stored value paid back to a member who left (hub/stored_value.py)
    UNCLAIMED = "unclaimed"  # a terminated member's stored value, held for HQ to settle
    OPENING = "opening"  # balances and points moved in from a legacy system (hub/member_import.py)


class Payment(enum.StrEnum):
    """A tender: how (part of) an amount is paid. Bank card, WeChat Pay and Alipay are
    taken outside the chain (no payment integration): the cashier types or scans their
    reference, and they post to their clearing accounts (TENDER_ACCOUNT)."""

    CASH = "cash"
    STORED_VALUE = "stored_value"
    BANK_CARD = "bank_card"
    WECHAT = "wechat"
    ALIPAY = "alipay"


# Tenders a till counts as cash in its drawer (the shift's expected cash).
DRAWER_TENDERS: Final = frozenset({Payment.CASH})
# Tenders settled by a payment provider: they carry the provider's reference.
EXTERNAL_TENDERS: Final = frozenset({Payment.BANK_CARD, Payment.WECHAT, Payment.ALIPAY})


class FeeKind(enum.StrEnum):
    JOINING = "joining"
    ANNUAL = "annual"
    SUPPLEMENTARY = "supplementary"
    REPLACEMENT = "replacement"


class SystemAccount(enum.StrEnum):
    """The chain's own accounts; each holds one asset (see SYSTEM_ACCOUNT_ASSET)."""

    CASH = "cash"  # money taken at counters
    SALES = "sales"  # gross sales revenue
    REFUNDS = "refunds"  # money given back for returned goods (contra-revenue)
    DISCOUNTS = "discounts"  # discounts given (contra-revenue)
    FEES = "fees"  # fee revenue
    POINTS_ISSUED = "points_issued"  # the other side of every point earned
    POINTS_REDEEMED = "points_redeemed"  # where redeemed points go
    GROWTH_ISSUED = "growth_issued"
    ADJUSTMENTS_CENTS = "adjustments_cents"
    ADJUSTMENTS_POINTS = "adjustments_points"
    POINTS_EXPIRED = "points_expired"  # where expired points go
    # Stored value of terminated members, still owed until HQ pays it out (a liability).
    UNCLAIMED_STORED_VALUE = "unclaimed_stored_value"
    # Money taken by bank card, WeChat Pay and Alipay, until the provider settles it.
    CLEARING_BANK_CARD = "clearing_bank_card"
    CLEARING_WECHAT = "clearing_wechat"
    CLEARING_ALIPAY = "clearing_alipay"
    # Stored value members held in a legacy system when they were moved in: owed to them
    # from then on like any stored value (hub/member_import.py).
    OPENING_BALANCES = "opening_balances"


SYSTEM_ACCOUNT_ASSET: dict[SystemAccount, Asset] = {
    SystemAccount.CASH: Asset.CENTS,
    SystemAccount.SALES: Asset.CENTS,
    SystemAccount.REFUNDS: Asset.CENTS,
    SystemAccount.DISCOUNTS: Asset.CENTS,
    SystemAccount.FEES: Asset.CENTS,
    SystemAccount.POINTS_ISSUED: Asset.POINTS,
    SystemAccount.POINTS_REDEEMED: Asset.POINTS,
    SystemAccount.GROWTH_ISSUED: Asset.GROWTH,
    SystemAccount.ADJUSTMENTS_CENTS: Asset.CENTS,
    SystemAccount.ADJUSTMENTS_POINTS: Asset.POINTS,
    SystemAccount.POINTS_EXPIRED: Asset.POINTS,
    SystemAccount.UNCLAIMED_STORED_VALUE: Asset.CENTS,
    SystemAccount.CLEARING_BANK_CARD: Asset.CENTS,
    SystemAccount.CLEARING_WECHAT: Asset.CENTS,
    SystemAccount.CLEARING_ALIPAY: Asset.CENTS,
    SystemAccount.OPENING_BALANCES: Asset.CENTS,
}
assert set(SYSTEM_ACCOUNT_ASSET) == set(SystemAccount)

# The system account each tender but stored value (the member's own account) posts to.
TENDER_ACCOUNT: Final = {
    Payment.CASH: SystemAccount.CASH,
    Payment.BANK_CARD: SystemAccount.CLEARING_BANK_CARD,
    Payment.WECHAT: SystemAccount.CLEARING_WECHAT,
    Payment.ALIPAY: SystemAccount.CLEARING_ALIPAY,
}
assert set(TENDER_ACCOUNT) | {Payment.STORED_VALUE} == set(Payment)


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
