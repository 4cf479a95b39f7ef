"""Reports over the journal: turnover, points, cards, categories, stored value, gaps.

Each returns plain rows (lists of dicts) that the CLI prints as a table or JSON and
the dashboard charts. Days are UTC days of when the sale happened (device time). A
branch limits a report to one branch (a branch manager's dashboard): its sales, or
the members whose home branch it is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from tapcard.domain.ledger import system_account
from tapcard.domain.model import Asset, SystemAccount, TxKind
from tapcard.domain.rules import PointsExpiry

DAY_MS = db.DAY_MS
GAPS_LISTED_MAX = 20  # missing sequence numbers listed per device
GAP_RANGES_LISTED_MAX = 10  # missing ranges listed per device


def _day(day_number: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))).isoformat()


def _window(column: Any, start: dt.date | None, end: dt.date | None) -> list[Any]:
    conditions = []
    epoch = dt.date(1970, 1, 1)
    if start is not None:
        conditions.append(column >= (start - epoch).days * DAY_MS)
    if end is not None:
        conditions.append(column < ((end - epoch).days + 1) * DAY_MS)
    return conditions


def _day_window(column: Any, start: dt.date | None, end: dt.date | None) -> list[Any]:
    epoch = dt.date(1970, 1, 1)
    conditions = []
    if start is not None:
        conditions.append(column >= (start - epoch).days)
    if end is not None:
        conditions.append(column <= (end - epoch).days)
    return conditions


def turnover(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> list[dict[str, Any]]:
    """Net sales (gross minus discounts minus refunds) and orders by branch and day."""
    d = db.daily_totals
    sales, discounts = system_account(SystemAccount.SALES), system_account(SystemAccount.DISCOUNTS)
    refunds = system_account(SystemAccount.REFUNDS)  # money given back, on the refund's day
    net = sa.func.sum(
        sa.case((d.c.account == sales, d.c.credit - d.c.debit), else_=0)
        - sa.case((d.c.account.in_([discounts, refunds]), d.c.debit - d.c.credit), else_=0)
    )
    orders = sa.func.sum(sa.case((d.c.account == sales, d.c.legs), else_=0))
    accounts = [sales, discounts, refunds]
    conditions = [d.c.account.in_(accounts), *_day_window(d.c.day, start, end)]
    if branch:
        conditions.append(d.c.branch_id == branch)
    query = (
        sa.select(d.c.branch_id, d.c.day, net, orders)
        .where(*conditions)
        .group_by(d.c.branch_id, d.c.day)
        .order_by(d.c.day, d.c.branch_id)
    )
    return [
        {"branch": b or "hq", "day": _day(day), "net_cents": int(n), "orders": int(o)}
        for b, day, n, o in conn.execute(query)
    ]


def points_flow(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> list[dict[str, Any]]:
    """Points issued (net of reversals) and redeemed, by day."""
    d = db.daily_totals
    issued = system_account(SystemAccount.POINTS_ISSUED)
    redeemed = system_account(SystemAccount.POINTS_REDEEMED)
    conditions = [d.c.account.in_([issued, redeemed]), *_day_window(d.c.day, start, end)]
    if branch:
        conditions.append(d.c.branch_id == branch)
    query = (
        sa.select(
            d.c.day,
            sa.func.sum(sa.case((d.c.account == issued, d.c.debit - d.c.credit), else_=0)),
            sa.func.sum(sa.case((d.c.account == redeemed, d.c.credit - d.c.debit), else_=0)),
        )
        .where(*conditions)
        .group_by(d.c.day)
        .order_by(d.c.day)
    )
    return [
        {"day": _day(day), "issued": int(i), "redeemed": int(r)}
        for day, i, r in conn.execute(query)
    ]


def cards_by_tier_and_state(conn: Connection, branch: str | None = None) -> list[dict[str, Any]]:
    """Cards by their member's tier and the card's state (of one home branch's members)."""
    c, m = db.cards, db.members
    conditions = [m.c.branch_id == branch] if branch else []
    query = (
        sa.select(m.c.tier, c.c.state, sa.func.count())
        .select_from(c.join(m, m.c.id == c.c.member_id))
        .where(*conditions)
        .group_by(m.c.tier, c.c.state)
        .order_by(m.c.tier, c.c.state)
    )
    return [
        {"tier": tier, "state": state, "cards": int(n)} for tier, state, n in conn.execute(query)
    ]


def sales_by_category(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> list[dict[str, Any]]:
    s = db.sale_lines
    conditions = _window(s.c.created_ms, start, end)
    if branch:
        conditions.append(s.c.branch_id == branch)
    query = (
        sa.select(s.c.category, sa.func.sum(s.c.quantity), sa.func.sum(s.c.gross_cents))
        .where(*conditions)
        .group_by(s.c.category)
        .order_by(sa.func.sum(s.c.gross_cents).desc())
    )
    return [
        {"category": cat, "quantity": int(q), "gross_cents": int(g)}
        for cat, q, g in conn.execute(query)
    ]


def stored_value(conn: Connection, branch: str | None = None) -> list[dict[str, Any]]:
    """Stored value members hold now (a liability), by their home branch."""
    a, m = db.accounts, db.members
    conditions = [a.c.asset == Asset.CENTS.value, a.c.balance != 0]
    if branch:
        conditions.append(m.c.branch_id == branch)
    query = (
        sa.select(m.c.branch_id, sa.func.count(), sa.func.sum(a.c.balance))
        .select_from(a.join(m, m.c.id == a.c.member_id))
        .where(*conditions)
        .group_by(m.c.branch_id)
        .order_by(m.c.branch_id)
    )
    return [
        {"branch": b or "hq", "members": int(n), "outstanding_cents": int(total or 0)}
        for b, n, total in conn.execute(query)
    ]


def stored_value_by_branch(conn: Connection, branch: str | None = None) -> list[dict[str, Any]]:
    """Stored value by the branch where it was topped up and where it was spent, for
    settlement between branches (docs/stored-value.md): every leg on a member's cents
    account, by its transfer's branch ("hq" for what HQ booked: adjustments, fees,
    payouts, balances moved to unclaimed). `net_cents` (topped up less spent) is what
    the branch holds for value it has not delivered: it pays that to HQ's clearing, or
    receives it when negative. Without a branch a `total` row follows, whose net is the
    stored value members hold now."""
    t, g = db.transfers, db.legs
    amount = g.c.credit - g.c.debit
    is_topup = t.c.kind == TxKind.TOPUP.value
    place = sa.func.coalesce(t.c.branch_id, "")
    conditions = [g.c.asset == Asset.CENTS.value, g.c.account.like("m:%")]
    if branch:
        conditions.append(t.c.branch_id == branch)
    query = (
        sa.select(
            place,
            sa.func.sum(sa.case((is_topup, amount), else_=0)),
            sa.func.sum(sa.case((is_topup, 0), else_=-amount)),
        )
        .select_from(g.join(t, t.c.tx_id == g.c.tx_id))
        .where(*conditions)
        .group_by(place)
        .order_by(place)
    )
    rows = [
        {
            "branch": b or "hq",
            "topped_up_cents": int(up or 0),
            "spent_cents": int(spent or 0),
            "net_cents": int(up or 0) - int(spent or 0),
        }
        for b, up, spent in conn.execute(query)
    ]
    if not branch and rows:
        total = {k: sum(int(r[k]) for r in rows) for k in ("topped_up_cents", "spent_cents")}
        net = total["topped_up_cents"] - total["spent_cents"]
        rows.append({"branch": "total", **total, "net_cents": net})
    return rows


def in_yuan(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with each `*_cents` column as `*_yuan` (exact: 2 decimal places), for
    CSV and the CLI: the unit in the header, the amount as people read it."""
    return [
        {
            (k[: -len("_cents")] + "_yuan" if k.endswith("_cents") else k): (
                Decimal(int(v)).scaleb(-2) if k.endswith("_cents") else v
            )
            for k, v in row.items()
        }
        for row in rows
    ]


def new_members(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> list[dict[str, Any]]:
    """Members who joined, by day (of one home branch); people only, not the holder
    rows of card accounts (members.person_id)."""
    m = db.members
    conditions: list[sa.ColumnElement[bool]] = [m.c.person_id.is_(None)]
    if start is not None:
        conditions.append(m.c.joined_on >= start)
    if end is not None:
        conditions.append(m.c.joined_on <= end)
    if branch:
        conditions.append(m.c.branch_id == branch)
    query = (
        sa.select(m.c.joined_on, sa.func.count())
        .where(*conditions)
        .group_by(m.c.joined_on)
        .order_by(m.c.joined_on)
    )
    return [{"day": str(day), "members": int(n)} for day, n in conn.execute(query)]


def staff_performance(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> list[dict[str, Any]]:
    """Service performance: transfers each staff member (or HQ user) booked, by branch."""
    t = db.transfers
    conditions = [t.c.actor != "", *_window(t.c.created_ms, start, end)]
    if branch:
        conditions.append(t.c.branch_id == branch)
    query = (
        sa.select(
            t.c.branch_id,
            t.c.actor,
            sa.func.count(),
            sa.func.count(sa.distinct(t.c.member_id)),
            sa.func.sum(sa.case((t.c.kind == TxKind.PURCHASE.value, 1), else_=0)),
        )
        .where(*conditions)
        .group_by(t.c.branch_id, t.c.actor)
        .order_by(sa.func.count().desc())
    )
    return [
        {
            "branch": b or "hq",
            "actor": actor,
            "transfers": int(n),
            "members": int(mem),
            "sales": int(p or 0),
        }
        for b, actor, n, mem, p in conn.execute(query)
    ]


def sequence_gaps(conn: Connection) -> list[dict[str, Any]]:
    """Per device: how many sequence numbers below the highest stored never arrived, the
    first GAP_RANGES_LISTED_MAX missing ranges and the first GAPS_LISTED_MAX numbers.

    All in SQL, from each stored seq and the one before it (LAG): the cost follows the
    rows stored, never the numbers in them, and the output has a constant bound per
    device, so a device that sends seq 2**62 costs what any other intent costs."""
    r = db.results
    totals = conn.execute(
        sa.select(r.c.device_id, sa.func.max(r.c.seq), sa.func.count())
        .group_by(r.c.device_id)
        .having(sa.func.max(r.c.seq) > sa.func.count())
        .order_by(r.c.device_id)
    ).all()
    if not totals:
        return []
    ranges = _gap_ranges(conn)
    out = []
    for device, seq_max, count in totals:
        mine = ranges.get(device, [])
        out.append(
            {
                "device": device,
                "seq_max": int(seq_max),
                "missing": int(seq_max) - int(count),
                "first_missing": _first_numbers(mine, GAPS_LISTED_MAX),
                "ranges": [[lo, hi] for lo, hi in mine],
            }
        )
    return out


def _gap_ranges(conn: Connection) -> dict[str, list[tuple[int, int]]]:
    """The first GAP_RANGES_LISTED_MAX missing ranges (first, last) of each device."""
    r = db.results
    previous = sa.func.coalesce(
        sa.func.lag(r.c.seq).over(partition_by=r.c.device_id, order_by=r.c.seq), 0
    )
    steps = sa.select(r.c.device_id, r.c.seq, previous.label("prev")).subquery()
    gaps = (
        sa.select(
            steps.c.device_id,
            (steps.c.prev + 1).label("lo"),
            (steps.c.seq - 1).label("hi"),
            sa.func.row_number()
            .over(partition_by=steps.c.device_id, order_by=steps.c.seq)
            .label("n"),
        )
        .where(steps.c.seq - steps.c.prev > 1)
        .subquery()
    )
    query = (
        sa.select(gaps.c.device_id, gaps.c.lo, gaps.c.hi)
        .where(gaps.c.n <= GAP_RANGES_LISTED_MAX)
        .order_by(gaps.c.device_id, gaps.c.lo)
    )
    ranges: dict[str, list[tuple[int, int]]] = {}
    for device, lo, hi in conn.execute(query):
        ranges.setdefault(device, []).append((int(lo), int(hi)))
    return ranges


def _first_numbers(ranges: list[tuple[int, int]], count_max: int) -> list[int]:
    """The first `count_max` numbers of some ranges: bounded by `count_max`, never by
    how wide a range is."""
    out: list[int] = []
    for lo, hi in ranges:
        out.extend(range(lo, min(hi, lo + count_max - len(out) - 1) + 1))
        if len(out) >= count_max:
            break
    return out


def open_exceptions(conn: Connection) -> list[dict[str, Any]]:
    e = db.exceptions
    query = sa.select(e).where(e.c.acked_by.is_(None)).order_by(e.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]


# The reports of `tapcard hub report NAME`; the dashboard has its own list (hub.web.reporting).
def points_liability(conn: Connection) -> list[dict[str, Any]]:
    """Points outstanding as a liability at the latest rules' per-point cost, and what
    expires within 30 and 90 days (hub/point_buckets.py)."""
    from hub.point_buckets import liability
    from hub.rulestore import parse_rules

    body = conn.execute(
        sa.select(db.rule_sets.c.body).order_by(db.rule_sets.c.version.desc()).limit(1)
    ).scalar()
    policy = parse_rules(body.encode()).points_expiry if body else PointsExpiry()
    return liability(conn, policy, db.today_at(conn))
