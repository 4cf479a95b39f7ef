"""The points-by-expiry buckets: written with every credit to a member's points account
(`hub.posting.Journal.settle`), moved on by a renewal, read for the card and the job.

What a bucket means and why spending never touches it: tapcard.domain.expiry.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from tapcard.domain import expiry
from tapcard.domain.authority import business_date
from tapcard.domain.rules import BUSINESS_TIME_ZONE_DEFAULT, PointsExpiry, RuleSet

# A renewal transfer's detail names the card's expiry before it (the freeze's start).
RENEWED_FROM_KEY = "renewed_from"


@dataclass(frozen=True, slots=True)
class Credit:
    """Points credited to a member's points account by one transfer."""

    member_id: int
    rules_version: int
    created_ms: int
    points: int


@dataclass(frozen=True, slots=True)
class _Policy:
    expiry: PointsExpiry
    time_zone: str


_NO_EXPIRY = _Policy(PointsExpiry(), BUSINESS_TIME_ZONE_DEFAULT)
_policies: dict[int, _Policy] = {}  # rule set versions never change once loaded
_policies_lock = threading.Lock()


def _policy(conn: Connection, version: int) -> _Policy:
    found = _policies.get(version)
    if found is not None:
        return found
    body = conn.execute(
        sa.select(db.rule_sets.c.body).where(db.rule_sets.c.version == version)
    ).scalar()
    if body is None:  # booked under no stored rule set (a bare test hub): never expires
        return _NO_EXPIRY
    rules = msgspec.json.decode(body, type=RuleSet)
    policy = _Policy(rules.points_expiry, rules.time_zone)
    with _policies_lock:
        _policies[version] = policy
    return policy


def add_credits(conn: Connection, credits: Sequence[Credit]) -> None:
    """Add each credit to its member's bucket of the day it expires: upserts in key order,
    so concurrent workers never deadlock on these rows."""
    if not credits:
        return
    sums: dict[tuple[int, dt.date], int] = {}
    for credit in credits:
        policy = _policy(conn, credit.rules_version)
        earned_on = business_date(credit.created_ms, policy.time_zone)
        key = (credit.member_id, expiry.expires_on(policy.expiry, earned_on))
        sums[key] = sums.get(key, 0) + credit.points
    upsert(conn, sums)


def upsert(conn: Connection, sums: dict[tuple[int, dt.date], int]) -> None:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        "INSERT INTO point_buckets (member_id, expires_on, points) "  # noqa: S608 (our names)
        f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT (member_id, expires_on) "
        "DO UPDATE SET points = point_buckets.points + excluded.points"
    )
    conn.exec_driver_sql(sql, [(*key, sums[key]) for key in sorted(sums)])


def member_buckets(conn: Connection, member_id: int) -> list[tuple[dt.date, int]]:
    b = db.point_buckets
    rows = conn.execute(
        sa.select(b.c.expires_on, b.c.points)
        .where(b.c.member_id == member_id)
        .order_by(b.c.expires_on)
    )
    return [(on, int(points)) for on, points in rows]


def renewed_from(detail: str) -> dt.date | None:
    """The card's expiry before a renewal, from the renewal transfer's detail."""
    try:
        text = json.loads(detail).get(RENEWED_FROM_KEY)
        return dt.date.fromisoformat(text) if isinstance(text, str) else None
    except (ValueError, AttributeError):
        return None


@dataclass(frozen=True, slots=True)
class Renewal:
    """A renewal transfer: whose card, its expiry before, when (under which rules)."""

    member_id: int
    old_expiry: dt.date
    rules_version: int
    created_ms: int


def thaw(conn: Connection, renewals: Iterable[Renewal]) -> None:
    """After renewals: the buckets that fell
    due while the card was expired move on by the length of the freeze
    (tapcard.domain.expiry.extended), so the points come back with the card."""
    for renewal in renewals:
        member_id = renewal.member_id
        frozen_from = renewal.old_expiry + dt.timedelta(days=1)
        zone = _policy(conn, renewal.rules_version).time_zone
        renewed_on = business_date(renewal.created_ms, zone)
        if renewed_on <= frozen_from:
            continue  # renewed before it expired: nothing was frozen
        held = member_buckets(conn, member_id)
        moved = expiry.extended(held, frozen_from, renewed_on)
        if moved == dict(held):
            continue
        conn.execute(db.point_buckets.delete().where(db.point_buckets.c.member_id == member_id))
        upsert(conn, {(member_id, on): points for on, points in moved.items()})


LIABILITY_HORIZONS_DAYS = (30, 90)  # what expires within these many days, from today

# Points that expire by :last (a member keeps at most what later buckets hold), summed
# over every member with points. Our own text, no input.
_EXPIRING_SQL = """
SELECT COALESCE(SUM(CASE WHEN a.balance > COALESCE(k.kept, 0)
                         THEN a.balance - COALESCE(k.kept, 0) ELSE 0 END), 0)
FROM accounts a
LEFT JOIN (SELECT member_id, SUM(points) AS kept FROM point_buckets
           WHERE expires_on > :last GROUP BY member_id) k ON k.member_id = a.member_id
WHERE a.asset = 'points' AND a.member_id IS NOT NULL AND a.balance > 0
"""


def liability(conn: Connection, policy: PointsExpiry, today: dt.date) -> list[dict[str, object]]:
    """Points outstanding valued at the rules' per-point cost, and what of them expires
    within each horizon (frozen members' points included: they may still lapse)."""
    outstanding = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(db.accounts.c.balance), 0)).where(
            db.accounts.c.asset == "points",
            db.accounts.c.member_id.is_not(None),
            db.accounts.c.balance > 0,
        )
    ).scalar_one()
    rows: list[dict[str, object]] = [_liability_row("outstanding", int(outstanding), policy)]
    for days in LIABILITY_HORIZONS_DAYS:
        last = today + dt.timedelta(days=days - 1)
        points = conn.execute(sa.text(_EXPIRING_SQL), {"last": last}).scalar_one()
        rows.append(_liability_row(f"expiring by {last.isoformat()}", int(points), policy))
    return rows


def _liability_row(what: str, points: int, policy: PointsExpiry) -> dict[str, object]:
    return {
        "points": what,
        "count": points,
        "point_cost_millicents": policy.point_cost_millicents,
        "liability_cents": expiry.liability_cents(points, policy),
    }
