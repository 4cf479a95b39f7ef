"""Points that expire: when points earned on a day expire, and how many expire by a day.

The ledger keeps, per member, buckets of points by the last day they may be spent
(`expires_on`). Points are spent first expiring, first spent (which is first earned,
first spent while the expiry dates follow the earning dates, as they do under one rule
set), so how many of a member's points have expired by a day needs no lot history:

    expiring(D) = max(0, balance - sum(points of buckets with expires_on > D))

Once the expiry is booked as a debit, the balance drops by exactly that much and the
same formula gives 0 for the same day again: the daily job is idempotent.

Both schemes expire at the end of a month, never on a month-day, so 31 January and 29
February need no clamping: points earned on any day of March 2026 under a rolling
12-month rule may be spent until 31 March 2027 inclusive.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

from tapcard.domain.rules import ExpiryScheme, PointsExpiry

NEVER = dt.date.max  # the bucket of points that never expire (scheme none)
MILLICENTS_PER_CENT = 1000


def expires_on(policy: PointsExpiry, earned_on: dt.date) -> dt.date:
    """The last day points earned on `earned_on` (the business day) may be spent."""
    if policy.scheme is ExpiryScheme.ROLLING:
        month_index = earned_on.month - 1 + policy.months
        year, month = earned_on.year + month_index // 12, month_index % 12 + 1
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    if policy.scheme is ExpiryScheme.CALENDAR:
        return dt.date(earned_on.year + policy.years, 12, 31)
    return NEVER


def expiring_by(balance: int, buckets: Iterable[tuple[dt.date, int]], day: dt.date) -> int:
    """How many of `balance` points have expired at the end of `day` (see the module)."""
    kept = sum(points for on, points in buckets if on > day)
    return max(0, balance - kept)


def next_expiry(
    balance: int, buckets: Iterable[tuple[dt.date, int]], today: dt.date
) -> tuple[int, dt.date | None]:
    """(points, day): the next points to expire from today on, for the member's card;
    (0, None) when none will."""
    held = list(buckets)
    for on in sorted({b[0] for b in held if today <= b[0] < NEVER}):
        due = expiring_by(balance, held, on) - expiring_by(balance, held, on - _ONE_DAY)
        if due > 0:
            return due, on
    return 0, None


def extended(
    buckets: Iterable[tuple[dt.date, int]], frozen_from: dt.date, renewed_on: dt.date
) -> dict[dt.date, int]:
    """The buckets after a renewal: those whose expiry fell while the membership was
    expired (frozen_from .. the day before renewal) move on by the length of the freeze,
    so the member gets back the days to expiry they had when the card expired."""
    shift = renewed_on - frozen_from
    out: dict[dt.date, int] = {}
    for on, points in buckets:
        moved = on + shift if frozen_from <= on < renewed_on and shift.days > 0 else on
        out[moved] = out.get(moved, 0) + points
    return out


def liability_cents(points: int, policy: PointsExpiry) -> int:
    """What `points` outstanding cost the chain, rounded to the nearest cent."""
    return (points * policy.point_cost_millicents + MILLICENTS_PER_CENT // 2) // (
        MILLICENTS_PER_CENT
    )


_ONE_DAY = dt.timedelta(days=1)
