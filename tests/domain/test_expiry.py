"""Points that expire: the schemes' dates, the stateless expiry rule against a lot
simulation, the renewal extension and the liability's rounding.

Scenario: a chain's rules let points expire at the end of the month 12 months after
they were earned (rolling), or at the end of the year after (calendar). Members earn,
spend (first expiring, first spent) and let points lapse in any order; the rule that
needs only today's balance and the buckets by expiry date always agrees with keeping
every lot, and booking what it says twice books nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapcard.domain.expiry import (
    NEVER,
    expires_on,
    expiring_by,
    extended,
    liability_cents,
    next_expiry,
)
from tapcard.domain.rules import ExpiryScheme, PointsExpiry, RuleSet, validate_rules

ROLLING_12 = PointsExpiry(ExpiryScheme.ROLLING, months=12)
CALENDAR_1 = PointsExpiry(ExpiryScheme.CALENDAR, years=1)
D = dt.date


@pytest.mark.parametrize(
    ("policy", "earned", "expected"),
    [
        (ROLLING_12, D(2026, 3, 1), D(2027, 3, 31)),
        (ROLLING_12, D(2026, 3, 31), D(2027, 3, 31)),
        (ROLLING_12, D(2026, 1, 31), D(2027, 1, 31)),
        # 29 February: earned that day or any day of February expires at February's end.
        (ROLLING_12, D(2028, 2, 29), D(2029, 2, 28)),
        (PointsExpiry(ExpiryScheme.ROLLING, months=48), D(2024, 2, 29), D(2028, 2, 29)),
        (PointsExpiry(ExpiryScheme.ROLLING, months=1), D(2027, 1, 31), D(2027, 2, 28)),
        (PointsExpiry(ExpiryScheme.ROLLING, months=11), D(2026, 12, 15), D(2027, 11, 30)),
        (CALENDAR_1, D(2026, 1, 1), D(2027, 12, 31)),
        (CALENDAR_1, D(2026, 12, 31), D(2027, 12, 31)),
        (PointsExpiry(ExpiryScheme.CALENDAR, years=3), D(2028, 2, 29), D(2031, 12, 31)),
        (PointsExpiry(), D(2026, 5, 5), NEVER),
    ],
)
def test_expiry_dates(policy: PointsExpiry, earned: dt.date, expected: dt.date) -> None:
    assert expires_on(policy, earned) == expected


def test_expiry_policy_validated() -> None:
    bad = PointsExpiry(ExpiryScheme.ROLLING, months=0, years=11, point_cost_millicents=-1)
    errors = validate_rules(RuleSet(version=1, name="x", points_expiry=bad))
    assert len(errors) == 3 and all("points_expiry" in e for e in errors)
    assert validate_rules(RuleSet(version=1, name="x", points_expiry=ROLLING_12)) == []


def test_liability_rounds_to_the_nearest_cent() -> None:
    policy = PointsExpiry(point_cost_millicents=500)  # half a cent a point
    assert [liability_cents(n, policy) for n in (0, 1, 2, 3, 1_000_001)] == [0, 1, 1, 2, 500_001]


def test_next_expiry_skips_spent_lots() -> None:
    buckets = [(D(2026, 3, 31), 100), (D(2026, 4, 30), 50), (NEVER, 10)]
    # 120 spent of 160: the March lot is gone, 40 of April's remain, then the 10 that stay.
    assert next_expiry(40, buckets, D(2026, 3, 1)) == (30, D(2026, 4, 30))
    assert next_expiry(10, buckets, D(2026, 3, 1)) == (0, None)
    # March's lot is past due (the job has not run, or the card is frozen): not "next".
    assert next_expiry(160, buckets, D(2026, 4, 1)) == (50, D(2026, 4, 30))


def test_renewal_extends_what_fell_in_the_freeze() -> None:
    frozen_from, renewed_on = D(2026, 6, 1), D(2026, 8, 15)  # 75 days without a card
    buckets = [(D(2026, 5, 31), 5), (D(2026, 6, 30), 10), (D(2026, 8, 14), 20), (D(2026, 9, 30), 1)]
    assert extended(buckets, frozen_from, renewed_on) == {
        D(2026, 5, 31): 5,  # expired before the freeze: not the freeze's to give back
        D(2026, 9, 13): 10,
        D(2026, 10, 28): 20,
        D(2026, 9, 30): 1,
    }
    assert extended(buckets, renewed_on, renewed_on) == dict(buckets)


# An event: ("earn", day, points) | ("spend", day, points); the days run forward.
_events = st.lists(
    st.tuples(st.sampled_from(["earn", "earn", "spend"]), st.integers(0, 40), st.integers(1, 500)),
    max_size=40,
)


@dataclass
class _Lot:
    expires_on: dt.date
    remaining: int


@settings(max_examples=300, deadline=None)
@given(events=_events, months=st.integers(1, 3))
def test_stateless_rule_matches_fifo_lots(events: list[tuple[str, int, int]], months: int) -> None:
    policy = PointsExpiry(ExpiryScheme.ROLLING, months=months)
    start = D(2027, 12, 20)  # crosses a year end and 29 February 2028
    lots: list[_Lot] = []  # first expiring first (earned in date order)
    buckets: dict[dt.date, int] = {}
    balance, day = 0, start
    for kind, gap, points in sorted(events, key=lambda e: e[1]):
        while day < start + dt.timedelta(days=gap * 10):
            expired = expiring_by(balance, buckets.items(), day)
            assert expired == sum(lot.remaining for lot in lots if lot.expires_on <= day)
            balance -= expired  # the job books it
            assert expiring_by(balance, buckets.items(), day) == 0  # run twice: nothing
            lots = [lot for lot in lots if lot.expires_on > day]
            day += dt.timedelta(days=1)
        if kind == "earn":
            on = expires_on(policy, day)
            buckets[on] = buckets.get(on, 0) + points
            lots.append(_Lot(on, points))
            balance += points
            continue
        spent = min(points, balance)
        balance -= spent
        for lot in lots:
            take = min(spent, lot.remaining)
            lot.remaining -= take
            spent -= take
    assert balance == sum(lot.remaining for lot in lots)
