"""Double-entry legs: the only way a balance ever changes.

Invariant: every transfer's legs sum to zero per asset (total debits == total credits)
and each leg has exactly one positive side. The hub's database enforces the same
invariant again (check twice), and `tapcard hub verify` re-proves it over the journal.

Balances are credit minus debit for every account. Member accounts are liabilities of
the chain (points owed, stored value owed), so they normally have positive balances;
the chain's cash account carries the mirror image as a negative number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tapcard.domain.engine import SaleQuote
from tapcard.domain.model import TENDER_ACCOUNT, Asset, Payment, SystemAccount
from tapcard.domain.tenders import Tendered

LEGS_PER_TRANSFER_MAX = 16


@dataclass(frozen=True, slots=True)
class Leg:
    account: str  # an account code, see member_account / system_account
    asset: Asset
    debit: int = 0
    credit: int = 0

    @property
    def delta(self) -> int:
        return self.credit - self.debit


def member_account(member_id: int, asset: Asset) -> str:
    return f"m:{member_id}:{asset}"  # a StrEnum formats as its value


_SYSTEM_CODES = {account: f"s:{account}" for account in SystemAccount}


def system_account(account: SystemAccount) -> str:
    return _SYSTEM_CODES[account]


def validate_legs(legs: Sequence[Leg]) -> list[str]:
    """Reasons these legs cannot form a transfer (beancount style: a list, not a raise)."""
    errors: list[str] = []
    if not 1 <= len(legs) <= LEGS_PER_TRANSFER_MAX:
        errors.append(f"a transfer has 1..{LEGS_PER_TRANSFER_MAX} legs")
    totals: dict[Asset, int] = {}
    for leg in legs:
        if type(leg.debit) is not int or type(leg.credit) is not int:
            errors.append(f"{leg.account}: amounts must be integers")
            continue
        if (leg.debit > 0) == (leg.credit > 0) or min(leg.debit, leg.credit) < 0:
            errors.append(f"{leg.account}: exactly one of debit and credit must be positive")
        totals[leg.asset] = totals.get(leg.asset, 0) + leg.delta
    errors += [
        f"{asset.value} legs sum to {total}, not 0" for asset, total in totals.items() if total
    ]
    return errors


# Enum member lookups through the class are slow on the hot path: bind them once.
_CENTS, _POINTS, _GROWTH = Asset.CENTS, Asset.POINTS, Asset.GROWTH
_STORED_VALUE = Payment.STORED_VALUE
_S_CASH = system_account(SystemAccount.CASH)
_S_SALES = system_account(SystemAccount.SALES)
_S_REFUNDS = system_account(SystemAccount.REFUNDS)
_S_DISCOUNTS = system_account(SystemAccount.DISCOUNTS)
_S_FEES = system_account(SystemAccount.FEES)
_S_POINTS_ISSUED = system_account(SystemAccount.POINTS_ISSUED)
_S_POINTS_REDEEMED = system_account(SystemAccount.POINTS_REDEEMED)
_S_GROWTH_ISSUED = system_account(SystemAccount.GROWTH_ISSUED)
_S_ADJUSTMENTS_CENTS = system_account(SystemAccount.ADJUSTMENTS_CENTS)
_S_ADJUSTMENTS_POINTS = system_account(SystemAccount.ADJUSTMENTS_POINTS)


def _pair(debit_account: str, credit_account: str, asset: Asset, amount: int) -> list[Leg]:
    """One debit and one credit of the same amount; nothing when the amount is zero."""
    assert amount >= 0
    if amount == 0:
        return []
    return [Leg(debit_account, asset, debit=amount), Leg(credit_account, asset, credit=amount)]


_TENDER_CODES = {tender: system_account(account) for tender, account in TENDER_ACCOUNT.items()}


def _payer(member_id: int, payment: Payment) -> str:
    """The account a tender pays from: the member's stored value, or its system account
    (cash, or the clearing account of bank card, WeChat Pay, Alipay)."""
    if payment is _STORED_VALUE:
        return member_account(member_id, _CENTS)
    return _TENDER_CODES[payment]


def tender_account(member_id: int, payment: Payment) -> str:
    return _payer(member_id, payment)


def _paid(member_id: int, parts: Sequence[Tendered]) -> list[Leg]:
    """The debits of a split's parts (a part of zero books nothing)."""
    return [Leg(_payer(member_id, p.payment), _CENTS, debit=p.cents) for p in parts if p.cents]


def earn_legs(member_id: int, points: int, growth: int) -> list[Leg]:
    return _pair(
        _S_POINTS_ISSUED,
        member_account(member_id, _POINTS),
        _POINTS,
        points,
    ) + _pair(
        _S_GROWTH_ISSUED,
        member_account(member_id, _GROWTH),
        _GROWTH,
        growth,
    )


def sale_legs(
    member_id: int, quote: SaleQuote, payment: Payment, parts: Sequence[Tendered] = ()
) -> list[Leg]:
    """Gross to sales; discounts given and the paid net on the other side (by the
    split's parts, which sum to the net, or the one tender); points earned."""
    legs = [Leg(_S_SALES, _CENTS, credit=quote.gross_cents)]
    if quote.discount_cents:
        legs.append(Leg(_S_DISCOUNTS, _CENTS, debit=quote.discount_cents))
    if parts:
        legs += _paid(member_id, parts)
    elif quote.net_cents:
        legs.append(Leg(_payer(member_id, payment), _CENTS, debit=quote.net_cents))
    if quote.gross_cents == 0:
        legs = []
    return legs + earn_legs(member_id, quote.points, quote.growth)


def topup_legs(member_id: int, amount_cents: int, parts: Sequence[Tendered] = ()) -> list[Leg]:
    """Stored value credited, paid in cash or by the split's parts (never stored value)."""
    if parts:
        return [
            *_paid(member_id, parts),
            Leg(member_account(member_id, _CENTS), _CENTS, credit=amount_cents),
        ]
    return _pair(
        _S_CASH,
        member_account(member_id, _CENTS),
        _CENTS,
        amount_cents,
    )


def spend_legs(member_id: int, amount_cents: int) -> list[Leg]:
    return _pair(
        member_account(member_id, _CENTS),
        _S_SALES,
        _CENTS,
        amount_cents,
    )


def redeem_legs(member_id: int, points: int) -> list[Leg]:
    return _pair(
        member_account(member_id, _POINTS),
        _S_POINTS_REDEEMED,
        _POINTS,
        points,
    )


def voucher_expiry_legs(member_id: int, points: int) -> list[Leg]:
    """An unused expired voucher's points back to the member: the redemption undone."""
    return _pair(_S_POINTS_REDEEMED, member_account(member_id, _POINTS), _POINTS, points)


def fee_legs(
    member_id: int, amount_cents: int, payment: Payment, parts: Sequence[Tendered] = ()
) -> list[Leg]:
    if parts and amount_cents:
        return [*_paid(member_id, parts), Leg(_S_FEES, _CENTS, credit=amount_cents)]
    return _pair(_payer(member_id, payment), _S_FEES, _CENTS, amount_cents)


def reversal_legs(member_id: int, points: int, growth: int) -> list[Leg]:
    """Take back points (and growth) obtained by fraud: the mirror of earn_legs."""
    return _pair(
        member_account(member_id, _POINTS),
        _S_POINTS_ISSUED,
        _POINTS,
        points,
    ) + _pair(
        member_account(member_id, _GROWTH),
        _S_GROWTH_ISSUED,
        _GROWTH,
        growth,
    )


def refund_legs(
    member_id: int,
    money_cents: int,
    payment: Payment,
    points: int,
    growth: int,
    parts: Sequence[Tendered] = (),
) -> list[Leg]:
    """Give back the money of returned goods (to stored value, paid out in cash, or to
    the tenders `parts`, which sum to it) against the refunds account, and take back
    the points and growth they earned."""
    if parts and money_cents:
        back = [Leg(_payer(member_id, p.payment), _CENTS, credit=p.cents) for p in parts]
        money = [Leg(_S_REFUNDS, _CENTS, debit=money_cents), *back]
    else:
        money = _pair(_S_REFUNDS, _payer(member_id, payment), _CENTS, money_cents)
    return money + reversal_legs(member_id, points, growth)


def redemption_refund_legs(member_id: int, points: int) -> list[Leg]:
    """The points of a redemption whose reward came back: the mirror of redeem_legs."""
    return _pair(_S_POINTS_REDEEMED, member_account(member_id, _POINTS), _POINTS, points)


def adjustment_legs(member_id: int, asset: Asset, delta: int) -> list[Leg]:
    """A manual correction of a member balance against the adjustments account."""
    if asset is _GROWTH:
        other = _S_GROWTH_ISSUED
    elif asset is _POINTS:
        other = _S_ADJUSTMENTS_POINTS
    else:
        other = _S_ADJUSTMENTS_CENTS
    mine = member_account(member_id, asset)
    return _pair(other, mine, asset, delta) if delta > 0 else _pair(mine, other, asset, -delta)


def net_deltas(legs: Iterable[Leg]) -> dict[str, int]:
    """Change of each account's balance (credit minus debit) caused by these legs."""
    deltas: dict[str, int] = {}
    for leg in legs:
        deltas[leg.account] = deltas.get(leg.account, 0) + leg.delta
    return deltas


_ADJUSTMENTS = {_CENTS: _S_ADJUSTMENTS_CENTS, _POINTS: _S_ADJUSTMENTS_POINTS}


def shift_to_adjustments(
    legs: Sequence[Leg], member_id: int, asset: Asset, excess: int
) -> list[Leg]:
    """The same transfer with `excess` of the member's debits taken by the adjustments
    account instead: what an offline intent took beyond the offline policy."""
    assert excess > 0
    account = member_account(member_id, asset)
    left = excess
    out: list[Leg] = []
    for leg in legs:
        if leg.account == account and leg.debit and left:
            take = min(leg.debit, left)
            left -= take
            if leg.debit > take:
                out.append(Leg(leg.account, leg.asset, debit=leg.debit - take))
            continue
        out.append(leg)
    assert left == 0, (excess, legs)
    return [*out, Leg(_ADJUSTMENTS[asset], asset, debit=excess)]
