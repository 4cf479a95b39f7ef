"""Reports for the dashboard: hub.reports where it already filters what a user may see,
and branch-aware queries for the rest (a branch manager sees only their branch).

Every report returns plain rows; `CHARTS` says how the page draws each one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, reports

DAY_MS = reports.DAY_MS
Report = Callable[[Connection, dt.date | None, dt.date | None, str | None], list[dict[str, Any]]]


def _turnover(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    return reports.turnover(c, s, e, b)


def _categories(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    return reports.sales_by_category(c, s, e, b)


def _points(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    return reports.points_flow(c, s, e, b)


def _stored_value(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    """Stored value members hold now (a liability), by their home branch."""
    a, m = db.accounts, db.members
    query = (
        sa.select(m.c.branch_id, sa.func.count(), sa.func.sum(a.c.balance))
        .select_from(a.join(m, m.c.id == a.c.member_id))
        .where(a.c.asset == "cents", a.c.balance != 0)
        .group_by(m.c.branch_id)
        .order_by(m.c.branch_id)
    )
    if b is not None:
        query = query.where(m.c.branch_id == b)
    return [
        {"branch": br or "hq", "members": int(n), "outstanding_cents": int(total or 0)}
        for br, n, total in c.execute(query)
    ]


def _cards(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    if b is None:
        return reports.cards_by_tier_and_state(c)
    cards, m = db.cards, db.members
    query = (
        sa.select(m.c.tier, cards.c.state, sa.func.count())
        .select_from(cards.join(m, m.c.id == cards.c.member_id))
        .where(m.c.branch_id == b)
        .group_by(m.c.tier, cards.c.state)
        .order_by(m.c.tier, cards.c.state)
    )
    return [{"tier": t, "state": st, "cards": int(n)} for t, st, n in c.execute(query)]


def _new_members(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    m = db.members
    conditions = []
    if s is not None:
        conditions.append(m.c.joined_on >= s)
    if e is not None:
        conditions.append(m.c.joined_on <= e)
    if b is not None:
        conditions.append(m.c.branch_id == b)
    query = (
        sa.select(m.c.joined_on, sa.func.count())
        .where(*conditions)
        .group_by(m.c.joined_on)
        .order_by(m.c.joined_on)
    )
    return [{"day": str(day), "members": int(n)} for day, n in c.execute(query)]


def _campaigns(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    if b is None:
        return reports.campaign_effect(c, s, e)
    tc, t = db.transfer_campaigns, db.transfers
    query = (
        sa.select(
            tc.c.code,
            sa.func.count(),
            sa.func.count(sa.distinct(tc.c.member_id)),
            sa.func.sum(tc.c.net_cents),
            sa.func.sum(tc.c.campaign_discount_cents),
        )
        .select_from(tc.join(t, t.c.tx_id == tc.c.tx_id))
        .where(t.c.branch_id == b, *reports._window(tc.c.created_ms, s, e))
        .group_by(tc.c.code)
        .order_by(tc.c.code)
    )
    return [
        {
            "campaign": code,
            "orders": int(o),
            "members": int(n),
            "net_cents": int(v),
            "cost_cents": int(k),
        }
        for code, o, n, v, k in c.execute(query)
    ]


def _staff(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Any:
    """Service performance: transfers each staff member (or HQ user) booked, by branch."""
    t = db.transfers
    conditions = [t.c.actor != "", *reports._window(t.c.created_ms, s, e)]
    if b is not None:
        conditions.append(t.c.branch_id == b)
    query = (
        sa.select(
            t.c.branch_id,
            t.c.actor,
            sa.func.count(),
            sa.func.count(sa.distinct(t.c.member_id)),
            sa.func.sum(sa.case((t.c.kind == "purchase", 1), else_=0)),
        )
        .where(*conditions)
        .group_by(t.c.branch_id, t.c.actor)
        .order_by(sa.func.count().desc())
    )
    return [
        {
            "branch": br or "hq",
            "actor": actor,
            "transfers": int(n),
            "members": int(mem),
            "sales": int(p or 0),
        }
        for br, actor, n, mem, p in c.execute(query)
    ]


REPORTS: dict[str, tuple[str, Report]] = {
    "turnover": ("Turnover by branch and day", _turnover),
    "points": ("Points issued vs redeemed", _points),
    "stored_value": ("Stored value outstanding", _stored_value),
    "cards": ("Cards by tier and state", _cards),
    "new_members": ("New members", _new_members),
    "categories": ("Sales by category", _categories),
    "campaigns": ("Campaign effect", _campaigns),
    "staff": ("Staff service performance", _staff),
}

# How the page charts each report: (chart type, label field, value fields, series field).
CHARTS: dict[str, tuple[str, str, list[str], str | None]] = {
    "turnover": ("bar", "day", ["net_cents"], "branch"),
    "points": ("line", "day", ["issued", "redeemed"], None),
    "stored_value": ("bar", "branch", ["outstanding_cents"], None),
    "cards": ("bar", "tier", ["cards"], "state"),
    "new_members": ("line", "day", ["members"], None),
    "categories": ("bar", "category", ["gross_cents"], None),
    "campaigns": ("bar", "campaign", ["net_cents", "cost_cents"], None),
    "staff": ("bar", "actor", ["transfers"], None),
}

assert set(CHARTS) == set(REPORTS)


def run(
    conn: Connection, name: str, start: dt.date | None, end: dt.date | None, branch: str | None
) -> list[dict[str, Any]]:
    _, func = REPORTS[name]
    rows: list[dict[str, Any]] = func(conn, start, end, branch)
    return rows
