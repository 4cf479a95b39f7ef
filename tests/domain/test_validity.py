"""Card validity, renewal, backfill, fees, redemption and voucher codes.

Scenario: a card issued on 15 March 2026 is valid for 24 months, to 15 March 2028;
month ends clamp (29 Feb 2024 -> 28 Feb 2026). Renewing a valid card extends it from its
old expiry; renewing a lapsed one runs from the renewal day. A receipt can be backfilled
within 30 days (day 30 yes, day 31 no, never a future date). Fees come from the rule set.
Parking costs 100 points per hour up to 12 hours, a car wash 800, prizes their price;
each redemption gets a voucher code derived from the transfer id and the hub's secret.
"""

from __future__ import annotations

import re

import pytest

from tapcard.domain.engine import (
    VOUCHER_CODE_LEN,
    add_months,
    backfill_error,
    card_expires_on,
    fee_cents,
    redemption_points,
    renewed_expiry,
    voucher_code,
)
from tapcard.domain.model import FeeKind
from tapcard.domain.rules import CatalogItem, CatalogKind, Fees

from .helpers import D, make_rules

RULES = make_rules()


@pytest.mark.parametrize(
    ("issued_on", "expires_on"),
    [
        (D(2026, 3, 15), D(2028, 3, 15)),
        (D(2024, 2, 29), D(2026, 2, 28)),  # no 29 Feb in 2026
        (D(2026, 2, 28), D(2028, 2, 28)),
        (D(2026, 12, 31), D(2028, 12, 31)),
    ],
)
def test_card_valid_two_years_from_issue(issued_on: D, expires_on: D) -> None:
    assert card_expires_on(RULES, issued_on) == expires_on


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2025, 1, 31), 1, D(2025, 2, 28)),
        (D(2024, 1, 31), 1, D(2024, 2, 29)),
        (D(2026, 3, 31), 1, D(2026, 4, 30)),
        (D(2025, 12, 31), 2, D(2026, 2, 28)),
        (D(2025, 11, 30), 3, D(2026, 2, 28)),
        (D(2025, 6, 15), 0, D(2025, 6, 15)),
        (D(2025, 6, 15), 120, D(2035, 6, 15)),
    ],
)
def test_add_months_clamps_to_month_end(day: D, months: int, expected: D) -> None:
    assert add_months(day, months) == expected


def test_one_month_validity_from_31_january() -> None:
    rules = make_rules(card_validity_months=1)
    assert card_expires_on(rules, D(2026, 1, 31)) == D(2026, 2, 28)
    assert card_expires_on(rules, D(2028, 1, 31)) == D(2028, 2, 29)


def test_renewal_of_a_valid_card_extends_from_the_old_expiry() -> None:
    assert renewed_expiry(RULES, D(2027, 6, 30), D(2027, 5, 1)) == D(2029, 6, 30)
    assert renewed_expiry(RULES, D(2027, 6, 30), D(2027, 6, 30)) == D(2029, 6, 30)


def test_renewal_of_a_lapsed_card_runs_from_today() -> None:
    assert renewed_expiry(RULES, D(2026, 1, 10), D(2026, 4, 2)) == D(2028, 4, 2)


@pytest.mark.parametrize(
    ("receipt_on", "today", "allowed"),
    [
        (D(2026, 3, 1), D(2026, 3, 1), True),
        (D(2026, 3, 1), D(2026, 3, 31), True),  # 30 days old
        (D(2026, 3, 1), D(2026, 4, 1), False),  # 31 days old
        (D(2026, 3, 1), D(2027, 3, 1), False),
        (D(2026, 3, 2), D(2026, 3, 1), False),  # dated tomorrow
    ],
)
def test_backfill_window(receipt_on: D, today: D, allowed: bool) -> None:
    assert (backfill_error(RULES, receipt_on, today) is None) is allowed


def test_backfill_errors_say_why() -> None:
    too_old = backfill_error(RULES, D(2026, 3, 1), D(2026, 4, 1))
    assert too_old is not None
    assert "31 days old" in too_old
    assert "30 days" in too_old
    future = backfill_error(RULES, D(2026, 3, 2), D(2026, 3, 1))
    assert future is not None
    assert "future" in future


def test_backfill_window_comes_from_the_rules() -> None:
    rules = make_rules(backfill_window_days=7)
    assert backfill_error(rules, D(2026, 3, 1), D(2026, 3, 8)) is None
    assert backfill_error(rules, D(2026, 3, 1), D(2026, 3, 9)) is not None


FEES = Fees(
    joining_cents=2_000, annual_cents=5_000, supplementary_cents=1_000, replacement_cents=1_500
)


@pytest.mark.parametrize(
    ("kind", "cents"),
    [
        (FeeKind.JOINING, 2_000),
        (FeeKind.ANNUAL, 5_000),
        (FeeKind.SUPPLEMENTARY, 1_000),
        (FeeKind.REPLACEMENT, 1_500),
    ],
)
def test_fees_come_from_the_rules(kind: FeeKind, cents: int) -> None:
    assert fee_cents(make_rules(fees=FEES), kind) == cents
    assert fee_cents(RULES, kind) == 0  # a chain without fees


PARKING = CatalogItem("PARK-HOUR", CatalogKind.PARKING, "Parking, per hour", 100, units_max=12)
CAR_WASH = CatalogItem("WASH", CatalogKind.CAR_WASH, "Standard wash", 800)
UMBRELLA = CatalogItem("UMB", CatalogKind.PRIZE, "Umbrella", 3_000, stock=50)


def test_parking_points_per_hour_times_hours() -> None:
    assert redemption_points(PARKING, 1) == 100
    assert redemption_points(PARKING, 3) == 300
    assert redemption_points(PARKING, 12) == 1_200


@pytest.mark.parametrize("hours", [0, 13, -1])
def test_parking_hours_outside_the_limit_are_a_programmer_error(hours: int) -> None:
    with pytest.raises(AssertionError):
        redemption_points(PARKING, hours)


def test_car_wash_and_prize_points() -> None:
    assert redemption_points(CAR_WASH, 1) == 800
    assert redemption_points(UMBRELLA, 1) == 3_000
    with pytest.raises(AssertionError):
        redemption_points(CAR_WASH, 2)  # one wash per redemption


def test_catalog_lookup() -> None:
    rules = make_rules(catalog=(PARKING, CAR_WASH))
    assert rules.catalog_item("WASH") == CAR_WASH
    assert rules.catalog_item("NOPE") is None


SECRET = b"hub voucher secret"
VOUCHER_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_voucher_code_is_deterministic_per_transfer() -> None:
    code = voucher_code(SECRET, "tx-0001")
    assert code == voucher_code(SECRET, "tx-0001")  # a redelivered intent gets the same code
    assert VOUCHER_PATTERN.match(code), code
    assert len(code.replace("-", "")) == VOUCHER_CODE_LEN
    assert not set(code) & set("ILOU")  # Crockford: no easily confused letters


def test_voucher_codes_differ_across_transfers_and_secrets() -> None:
    codes = {voucher_code(SECRET, f"tx-{i:04d}") for i in range(1_000)}
    assert len(codes) == 1_000
    assert voucher_code(SECRET, "tx-0001") != voucher_code(b"another secret", "tx-0001")
