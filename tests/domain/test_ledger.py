"""Double-entry legs: every balance change is a balanced transfer.

Scenario: a silver member buys 100 yuan of groceries (3 yuan tier discount, pays 97 in
cash or from stored value, earns 97 points and 97 growth points); tops up 50; spends 12
from stored value; redeems a car wash for 800 points; pays the 15 yuan replacement fee;
a supervisor reverses 100 fraudulent points; an operator adjusts balances by hand. Each
builder's legs validate and move exactly the expected amounts. `validate_legs` rejects
unbalanced, two-sided, zero, negative and non-integer legs.
"""

from __future__ import annotations

import pytest

from tapcard.domain.engine import SaleQuote, quote_sale
from tapcard.domain.ledger import (
    LEGS_PER_TRANSFER_MAX,
    Leg,
    adjustment_legs,
    earn_legs,
    fee_legs,
    member_account,
    net_deltas,
    redeem_legs,
    reversal_legs,
    sale_legs,
    spend_legs,
    system_account,
    topup_legs,
    validate_legs,
)
from tapcard.domain.model import SYSTEM_ACCOUNT_ASSET, Asset, Payment, SystemAccount

from .helpers import D, line, make_rules, member

M = 42
M_CENTS = member_account(M, Asset.CENTS)
M_POINTS = member_account(M, Asset.POINTS)
M_GROWTH = member_account(M, Asset.GROWTH)
CASH = system_account(SystemAccount.CASH)
SALES = system_account(SystemAccount.SALES)
DISCOUNTS = system_account(SystemAccount.DISCOUNTS)
FEES = system_account(SystemAccount.FEES)
POINTS_ISSUED = system_account(SystemAccount.POINTS_ISSUED)
POINTS_REDEEMED = system_account(SystemAccount.POINTS_REDEEMED)
GROWTH_ISSUED = system_account(SystemAccount.GROWTH_ISSUED)
ADJ_CENTS = system_account(SystemAccount.ADJUSTMENTS_CENTS)
ADJ_POINTS = system_account(SystemAccount.ADJUSTMENTS_POINTS)
ON = D(2026, 6, 10)


def assert_sound(legs: list[Leg]) -> None:
    """Valid, and every account only ever moves its own asset."""
    assert validate_legs(legs) == [], legs
    for leg in legs:
        kind, _, rest = leg.account.partition(":")
        if kind == "s":
            assert SYSTEM_ACCOUNT_ASSET[SystemAccount(rest)] is leg.asset, leg
        else:
            assert leg.account.endswith(f":{leg.asset.value}"), leg


def test_account_codes() -> None:
    assert M_POINTS == "m:42:points"
    assert CASH == "s:cash"


def test_balanced_legs_are_valid() -> None:
    legs = [Leg("a", Asset.CENTS, debit=100), Leg("b", Asset.CENTS, credit=100)]
    assert validate_legs(legs) == []


def test_unbalanced_legs_are_rejected() -> None:
    errors = validate_legs([Leg("a", Asset.CENTS, debit=100), Leg("b", Asset.CENTS, credit=99)])
    assert errors == ["cents legs sum to -1, not 0"]


def test_each_asset_must_balance_on_its_own() -> None:
    errors = validate_legs([Leg("a", Asset.CENTS, debit=100), Leg("b", Asset.POINTS, credit=100)])
    assert sorted(errors) == ["cents legs sum to -100, not 0", "points legs sum to 100, not 0"]


def test_two_sided_leg_is_rejected() -> None:
    legs = [
        Leg("a", Asset.CENTS, debit=100, credit=100),
        Leg("b", Asset.CENTS, debit=5),
        Leg("c", Asset.CENTS, credit=5),
    ]
    assert validate_legs(legs) == ["a: exactly one of debit and credit must be positive"]


def test_zero_leg_is_rejected() -> None:
    legs = [
        Leg("zero", Asset.CENTS),
        Leg("a", Asset.CENTS, debit=5),
        Leg("b", Asset.CENTS, credit=5),
    ]
    assert validate_legs(legs) == ["zero: exactly one of debit and credit must be positive"]


def test_negative_amounts_are_rejected() -> None:
    errors = validate_legs([Leg("a", Asset.CENTS, debit=-5), Leg("b", Asset.CENTS, credit=-5)])
    assert len(errors) == 2
    assert all("exactly one" in error for error in errors)
    legs = [Leg("a", Asset.CENTS, debit=5, credit=-5), Leg("b", Asset.CENTS, credit=10)]
    errors = validate_legs(legs)
    assert "a: exactly one of debit and credit must be positive" in errors


@pytest.mark.parametrize("amount", [100.0, 0.5, True])
def test_non_integer_amounts_are_rejected(amount: object) -> None:
    legs = [Leg("a", Asset.CENTS, debit=amount), Leg("b", Asset.CENTS, credit=1)]  # type: ignore[arg-type]
    assert "a: amounts must be integers" in validate_legs(legs)


def test_leg_count_is_bounded() -> None:
    assert validate_legs([]) == [f"a transfer has 1..{LEGS_PER_TRANSFER_MAX} legs"]
    half = LEGS_PER_TRANSFER_MAX // 2 + 1
    legs = [Leg(f"d{i}", Asset.CENTS, debit=1) for i in range(half)] + [
        Leg(f"c{i}", Asset.CENTS, credit=1) for i in range(half)
    ]
    assert validate_legs(legs) == [f"a transfer has 1..{LEGS_PER_TRANSFER_MAX} legs"]


def silver_quote(cents: int = 10_000) -> SaleQuote:
    return quote_sale(make_rules(), member("silver"), [line(cents)], ON)


def test_sale_paid_in_cash() -> None:
    legs = sale_legs(M, silver_quote(), Payment.CASH)
    assert_sound(legs)
    assert net_deltas(legs) == {
        SALES: 10_000,
        DISCOUNTS: -300,
        CASH: -9_700,
        POINTS_ISSUED: -97,
        M_POINTS: 97,
        GROWTH_ISSUED: -97,
        M_GROWTH: 97,
    }


def test_sale_paid_from_stored_value() -> None:
    legs = sale_legs(M, silver_quote(), Payment.STORED_VALUE)
    assert_sound(legs)
    deltas = net_deltas(legs)
    assert deltas[M_CENTS] == -9_700
    assert CASH not in deltas
    assert deltas[M_POINTS] == 97


def test_sale_without_discount_has_no_discount_leg() -> None:
    quote = quote_sale(make_rules(), member(), [line(199)], ON)
    legs = sale_legs(M, quote, Payment.CASH)
    assert_sound(legs)
    assert net_deltas(legs) == {
        SALES: 199,
        CASH: -199,
        POINTS_ISSUED: -1,
        M_POINTS: 1,
        GROWTH_ISSUED: -1,
        M_GROWTH: 1,
    }


def test_sale_of_excluded_lines_earns_no_legs() -> None:
    quote = quote_sale(make_rules(), member(), [line(5_000, "group_buy")], ON)
    legs = sale_legs(M, quote, Payment.STORED_VALUE)
    assert_sound(legs)
    assert net_deltas(legs) == {SALES: 5_000, M_CENTS: -5_000}


def test_free_sale_books_no_legs() -> None:
    # Nothing moves, so there is nothing to book: callers skip the transfer.
    quote = quote_sale(make_rules(), member(), [line(0)], ON)
    assert sale_legs(M, quote, Payment.CASH) == []


def test_earn_legs() -> None:
    legs = earn_legs(M, points=200, growth=100)
    assert_sound(legs)
    assert net_deltas(legs) == {
        POINTS_ISSUED: -200,
        M_POINTS: 200,
        GROWTH_ISSUED: -100,
        M_GROWTH: 100,
    }
    assert earn_legs(M, 0, 0) == []


def test_topup_legs() -> None:
    legs = topup_legs(M, 5_000)
    assert_sound(legs)
    assert net_deltas(legs) == {CASH: -5_000, M_CENTS: 5_000}


def test_spend_legs() -> None:
    legs = spend_legs(M, 1_200)
    assert_sound(legs)
    assert net_deltas(legs) == {M_CENTS: -1_200, SALES: 1_200}


def test_redeem_legs() -> None:
    legs = redeem_legs(M, 800)
    assert_sound(legs)
    assert net_deltas(legs) == {M_POINTS: -800, POINTS_REDEEMED: 800}


@pytest.mark.parametrize(
    ("payment", "payer"), [(Payment.CASH, CASH), (Payment.STORED_VALUE, M_CENTS)]
)
def test_fee_legs(payment: Payment, payer: str) -> None:
    legs = fee_legs(M, 1_500, payment)
    assert_sound(legs)
    assert net_deltas(legs) == {payer: -1_500, FEES: 1_500}


def test_reversal_mirrors_earning() -> None:
    legs = reversal_legs(M, points=100, growth=100)
    assert_sound(legs)
    assert net_deltas(legs) == {
        M_POINTS: -100,
        POINTS_ISSUED: 100,
        M_GROWTH: -100,
        GROWTH_ISSUED: 100,
    }
    earned_then_reversed = earn_legs(M, 100, 100) + legs
    assert set(net_deltas(earned_then_reversed).values()) == {0}


@pytest.mark.parametrize(
    ("asset", "delta", "other"),
    [
        (Asset.POINTS, 50, ADJ_POINTS),
        (Asset.POINTS, -50, ADJ_POINTS),
        (Asset.CENTS, 30, ADJ_CENTS),
        (Asset.CENTS, -30, ADJ_CENTS),
        (Asset.GROWTH, 500, GROWTH_ISSUED),
        (Asset.GROWTH, -500, GROWTH_ISSUED),
    ],
)
def test_adjustment_legs(asset: Asset, delta: int, other: str) -> None:
    legs = adjustment_legs(M, asset, delta)
    assert_sound(legs)
    assert net_deltas(legs) == {member_account(M, asset): delta, other: -delta}


def test_zero_amount_builds_no_legs() -> None:
    assert topup_legs(M, 0) == []
    assert adjustment_legs(M, Asset.POINTS, 0) == []
    with pytest.raises(AssertionError):
        topup_legs(M, -1)
