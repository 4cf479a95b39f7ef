"""The refunds report: refunds by branch, staff (the verified staff id or HQ user) and
reason, with the money given back and the points taken back; turnover net of refunds
is `hub.reports.turnover` (the refunds account is read with sales and discounts)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db

DAY_MS = 86_400_000


def refunds_by(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> list[dict[str, Any]]:
    """Refunds by branch, staff and reason (days in UTC, as daily_totals counts them)."""
    r = db.refunds
    conditions = []
    epoch = dt.date(1970, 1, 1)
    if start is not None:
        conditions.append(r.c.created_ms >= (start - epoch).days * DAY_MS)
    if end is not None:
        conditions.append(r.c.created_ms < ((end - epoch).days + 1) * DAY_MS)
    if branch:
        conditions.append(r.c.branch_id == branch)
    query = (
        sa.select(
            r.c.branch_id,
            r.c.actor,
            r.c.reason,
            sa.func.count(),
            sa.func.sum(r.c.cents),
            sa.func.sum(r.c.points),
            sa.func.sum(r.c.points_shortfall),
        )
        .where(*conditions)
        .group_by(r.c.branch_id, r.c.actor, r.c.reason)
        .order_by(r.c.branch_id, r.c.actor, r.c.reason)
    )
    return [
        {
            "branch": b or "hq",
            "staff": a,
            "reason": why,
            "refunds": int(n),
            "refunded_cents": int(cents),
            "points": int(points),
            "points_shortfall": int(short),
        }
        for b, a, why, n, cents, points, short in conn.execute(query)
    ]
