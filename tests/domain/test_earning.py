"""Earning points: one point per currency unit of what the member actually pays.

Scenario: a member pays at the counter. 100 cents earn 1 point and the fractional
remainder earns nothing (199 cents -> 1 point, 99 cents left over). Group-buy and
special-offer lines are paid in full and earn nothing. A double-points campaign in
December 2026 and a birthday bonus multiply points; they never stack, the best one wins.
Growth points (for tiers) equal the points before any multiplier.
"""

from __future__ import annotations

import pytest

from tapcard.domain.engine import points_factor_pct, quote_sale
from tapcard.domain.rules import BirthdayBonus, EarnRule, Multiplier
from tapcard.domain.window import is_birthday

from .helpers import D, line, make_rules, member

ON = D(2026, 6, 10)
DECEMBER_DOUBLE = Multiplier(
    "December double", 200, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 31)
)


@pytest.mark.parametrize(
    ("cents", "points", "remainder"),
    [(0, 0, 0), (99, 0, 99), (100, 1, 0), (199, 1, 99), (200, 2, 0), (12_345, 123, 45)],
)
def test_one_point_per_currency_unit_remainder_earns_nothing(
    cents: int, points: int, remainder: int
) -> None:
    quote = quote_sale(make_rules(), member(), [line(cents)], ON)
    assert quote.points == points
    assert quote.base_points == points
    assert quote.remainder_cents == remainder
    assert quote.net_cents == cents


def test_remainder_is_taken_over_the_whole_sale_not_per_line() -> None:
    quote = quote_sale(make_rules(), member(), [line(150), line(150)], ON)
    assert quote.points == 3
    assert quote.remainder_cents == 0


def test_cents_per_point_comes_from_the_rules() -> None:
    rules = make_rules(earn=EarnRule(cents_per_point=1_000))  # 1 point per 10 yuan
    quote = quote_sale(rules, member(), [line(12_345)], ON)
    assert (quote.points, quote.remainder_cents) == (12, 345)


def test_quantity_multiplies_the_unit_price() -> None:
    quote = quote_sale(make_rules(), member(), [line(250, quantity=3)], ON)
    assert quote.gross_cents == 750
    assert quote.points == 7
    assert quote.remainder_cents == 50


@pytest.mark.parametrize("category", ["group_buy", "special_offer"])
def test_excluded_categories_earn_nothing(category: str) -> None:
    quote = quote_sale(make_rules(), member(), [line(5_000, category), line(1_999)], ON)
    assert quote.excluded_cents == 5_000
    assert quote.earning_cents == 1_999
    assert quote.net_cents == 6_999
    assert quote.points == 19
    assert quote.remainder_cents == 99


def test_only_excluded_lines_earn_nothing_at_all() -> None:
    quote = quote_sale(make_rules(), member(), [line(50_000, "group_buy")], ON)
    assert quote.points == quote.base_points == quote.growth == 0
    assert quote.net_cents == quote.gross_cents == 50_000


def test_excluded_categories_come_from_the_rules() -> None:
    rules = make_rules(earn=EarnRule(excluded_categories=("tobacco",)))
    quote = quote_sale(rules, member(), [line(3_000, "tobacco"), line(1_000, "group_buy")], ON)
    assert quote.excluded_cents == 3_000
    assert quote.points == 10  # group_buy earns in this chain


@pytest.mark.parametrize(
    ("on", "factor_pct", "points"),
    [
        (D(2026, 11, 30), 100, 123),
        (D(2026, 12, 1), 200, 246),  # first day of the window counts
        (D(2026, 12, 15), 200, 246),
        (D(2026, 12, 31), 200, 246),  # so does the last
        (D(2027, 1, 1), 100, 123),
    ],
)
def test_double_points_inside_the_window_inclusive(on: D, factor_pct: int, points: int) -> None:
    rules = make_rules(multipliers=(DECEMBER_DOUBLE,))
    quote = quote_sale(rules, member(), [line(12_345)], on)
    assert quote.factor_pct == factor_pct
    assert quote.points == points
    assert quote.growth == 123  # growth points are never multiplied


def test_fractional_multiplied_points_round_down() -> None:
    rules = make_rules(multipliers=(Multiplier("x1.5", 150, starts_on=ON, ends_on=ON),))
    quote = quote_sale(rules, member(), [line(300)], ON)
    assert (quote.base_points, quote.points) == (3, 4)  # 4.5 -> 4


def test_overlapping_multipliers_do_not_stack_best_wins() -> None:
    triple = Multiplier("triple day", 300, starts_on=D(2026, 12, 24), ends_on=D(2026, 12, 24))
    rules = make_rules(multipliers=(DECEMBER_DOUBLE, triple))
    assert points_factor_pct(rules, member(), D(2026, 12, 24)) == 300
    assert points_factor_pct(rules, member(), D(2026, 12, 23)) == 200


BORN = D(1990, 5, 20)


@pytest.mark.parametrize(
    ("on", "whole_month", "expected"),
    [
        (D(2026, 5, 20), False, 200),
        (D(2026, 5, 19), False, 100),
        (D(2026, 5, 21), False, 100),
        (D(2026, 6, 20), False, 100),
        (D(2026, 5, 1), True, 200),
        (D(2026, 5, 31), True, 200),
        (D(2026, 4, 30), True, 100),
        (D(2026, 6, 1), True, 100),
    ],
)
def test_birthday_bonus_on_the_day_or_the_month(on: D, whole_month: bool, expected: int) -> None:
    rules = make_rules(birthday=BirthdayBonus(factor_pct=200, whole_month=whole_month))
    assert points_factor_pct(rules, member(birthday=BORN), on) == expected


def test_birthday_bonus_points() -> None:
    rules = make_rules(birthday=BirthdayBonus(factor_pct=200))
    quote = quote_sale(rules, member(birthday=BORN), [line(5_050)], D(2026, 5, 20))
    assert (quote.base_points, quote.points, quote.remainder_cents) == (50, 100, 50)


def test_no_birthday_bonus_without_a_rule_or_a_known_birthday() -> None:
    assert points_factor_pct(make_rules(), member(birthday=BORN), D(2026, 5, 20)) == 100
    rules = make_rules(birthday=BirthdayBonus(factor_pct=200))
    assert points_factor_pct(rules, member(birthday=None), D(2026, 5, 20)) == 100


def test_birthday_and_campaign_do_not_stack() -> None:
    rules = make_rules(multipliers=(DECEMBER_DOUBLE,), birthday=BirthdayBonus(factor_pct=200))
    december_child = member(birthday=D(1985, 12, 3))
    assert points_factor_pct(rules, december_child, D(2026, 12, 3)) == 200  # not 400
    bigger_birthday = make_rules(
        multipliers=(DECEMBER_DOUBLE,), birthday=BirthdayBonus(factor_pct=300)
    )
    assert points_factor_pct(bigger_birthday, december_child, D(2026, 12, 3)) == 300


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2027, 2, 28), True),  # common year: celebrated on 28 February
        (D(2027, 3, 1), False),
        (D(2028, 2, 28), False),  # leap year: the real day exists
        (D(2028, 2, 29), True),
    ],
)
def test_leap_day_birthday_gets_a_bonus_every_year(on: D, expected: bool) -> None:
    assert is_birthday(D(2000, 2, 29), on, whole_month=False) is expected
    rules = make_rules(birthday=BirthdayBonus(factor_pct=200))
    assert points_factor_pct(rules, member(birthday=D(2000, 2, 29)), on) == (
        200 if expected else 100
    )
