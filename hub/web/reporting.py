"""Reports for the dashboard: the queries of hub.reports, each limited to the branch a
user may see (a branch manager sees only their branch), with how the page charts it.

Every report returns plain rows; `CHARTS` says how the page draws each one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from hub import reports
from hub.refund_report import refunds_by

Rows = list[dict[str, Any]]
Report = Callable[[Connection, dt.date | None, dt.date | None, str | None], Rows]


def _cards(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Rows:
    return reports.cards_by_tier_and_state(c, b)  # the cards as they are now: no dates


def _stored_value(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Rows:
    return reports.stored_value(c, b)  # what members hold now: no dates


def _stored_value_branches(
    c: Connection, s: dt.date | None, e: dt.date | None, b: str | None
) -> Rows:
    return reports.stored_value_by_branch(c, b)  # since the first top-up: no dates


def _points_liability(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Rows:
    # The chain's liability as of today: no dates, and not a branch's to see.
    return [] if b is not None else reports.points_liability(c)


# Reports whose CSV is in yuan (`*_yuan` columns): what branches settle between them,
# and the points liability.
CSV_IN_YUAN = frozenset({"stored_value_branches", "points_liability"})

REPORTS: dict[str, tuple[str, Report]] = {
    "turnover": ("Turnover by branch and day", reports.turnover),
    "points": ("Points issued vs redeemed", reports.points_flow),
    "stored_value": ("Stored value outstanding", _stored_value),
    "stored_value_branches": ("Stored value by branch (settlement)", _stored_value_branches),
    "points_liability": ("Points liability and what expires in 30 and 90 days", _points_liability),
    "cards": ("Cards by tier and state", _cards),
    "new_members": ("New members", reports.new_members),
    "categories": ("Sales by category", reports.sales_by_category),
    "campaigns": ("Campaign effect", reports.campaign_effect),
    "staff": ("Staff service performance", reports.staff_performance),
    "refunds": ("Refunds by branch, staff and reason", refunds_by),
}

# How the page charts each report: (chart type, label field, value fields, series field).
CHARTS: dict[str, tuple[str, str, list[str], str | None]] = {
    "turnover": ("bar", "day", ["net_cents"], "branch"),
    "points": ("line", "day", ["issued", "redeemed"], None),
    "stored_value": ("bar", "branch", ["outstanding_cents"], None),
    "stored_value_branches": ("bar", "branch", ["topped_up_cents", "spent_cents"], None),
    "points_liability": ("bar", "points", ["liability_cents"], None),
    "cards": ("bar", "tier", ["cards"], "state"),
    "new_members": ("line", "day", ["members"], None),
    "categories": ("bar", "category", ["gross_cents"], None),
    "campaigns": ("bar", "campaign", ["net_cents", "cost_cents"], None),
    "staff": ("bar", "actor", ["transfers"], None),
    "refunds": ("bar", "reason", ["refunded_cents"], "branch"),
}

assert set(CHARTS) == set(REPORTS)


def run(
    conn: Connection, name: str, start: dt.date | None, end: dt.date | None, branch: str | None
) -> Rows:
    _, func = REPORTS[name]
    return func(conn, start, end, branch)
