"""What a targeted campaign cost and returned, against its control group.

Per campaign of the newest rule set that is targeted (a segment, a control group or a
cap): participants, orders, turnover, points given, discount, discount plus gift cost,
budget used of its cap, new members among the participants, and the uplift: the
campaign's audience (its segment's members, or every member) split by the stable
hold-out hash (hub/segments.held_out) into treated and held-out members, each side's
spend per member and visit rate over the period from member_days. `tapcard hub report
campaign-effect` and the dashboard's reports page (docs/rules.md "Targeted campaigns").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.sales_reports import NEW_MEMBER_DAYS, _latest_rules
from hub.segments import held_out
from tapcard.domain.rules import Campaign

Rows = list[dict[str, Any]]
DEFAULT_DAYS = 30  # the period without --from: the last 30 days


def targeted_effect(
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    branch: str | None = None,
) -> Rows:
    """One row per targeted campaign (branch: its sales there; the uplift is chain-wide)."""
    rules = _latest_rules(conn)
    if rules is None:
        return []
    last = end or db.today_at(conn)
    first = start or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    rows = []
    for c in rules.campaigns:
        if c.segment or c.control_percent or c.capped:
            rows.append({**_uses(conn, c, first, last, branch), **_uplift(conn, c, first, last)})
    return rows


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _uses(
    conn: Connection, c: Campaign, first: dt.date, last: dt.date, branch: str | None
) -> dict[str, Any]:
    u, tc, t, m = db.campaign_uses, db.transfer_campaigns, db.transfers, db.members
    # A day's sales by the hub's UTC day bounds, padded a day: the report is by period.
    since, until = _ms(first) - 86_400_000, _ms(last) + 2 * 86_400_000
    joined_since = first - dt.timedelta(days=NEW_MEMBER_DAYS)
    new = sa.and_(m.c.joined_on >= joined_since, m.c.person_id.is_(None))
    query = (
        sa.select(
            sa.func.count(sa.distinct(u.c.member_id)),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(tc.c.net_cents), 0),
            sa.func.coalesce(sa.func.sum(u.c.points), 0),
            sa.func.coalesce(sa.func.sum(tc.c.campaign_discount_cents), 0),
            sa.func.coalesce(sa.func.sum(u.c.cost_cents), 0),
            sa.func.count(sa.distinct(sa.case((new, u.c.member_id)))),
        )
        .select_from(
            u.join(tc, sa.and_(tc.c.tx_id == u.c.tx_id, tc.c.code == u.c.code)).join(
                m, m.c.id == u.c.member_id
            )
        )
        .where(u.c.code == c.code, u.c.created_ms >= since, u.c.created_ms < until)
    )
    if branch:
        query = query.join(t, t.c.tx_id == u.c.tx_id).where(t.c.branch_id == branch)
    row = conn.execute(query).one()
    b = db.campaign_budgets
    spent = conn.execute(sa.select(b.c.spent_cents, b.c.spent_points).where(b.c.code == c.code))
    spent_cents, spent_points = spent.first() or (0, 0)
    return {
        "campaign": c.code,
        "segment": c.segment or "*",
        "participants": int(row[0]),
        "orders": int(row[1]),
        "net_cents": int(row[2]),
        "points": int(row[3]),
        "discount_cents": int(row[4]),
        "cost_cents": int(row[5]),
        "new_members": int(row[6]),
        "budget_cents": c.budget_cents,
        "budget_used_cents": int(spent_cents),
        "budget_points": c.budget_points,
        "budget_used_points": int(spent_points),
    }


def _uplift(conn: Connection, c: Campaign, first: dt.date, last: dt.date) -> dict[str, Any]:
    """Treated against held-out members of the audience: spend per member and the share
    who visited, over the period."""
    md, sm = db.member_days, db.segment_members
    epoch = dt.date(1970, 1, 1)
    audience: Any = (
        sa.select(sm.c.member_id).where(sm.c.segment_code == c.segment)
        if c.segment
        else sa.select(db.members.c.id).where(db.members.c.person_id.is_(None))
    )
    spend = dict(
        conn.execute(
            sa.select(md.c.member_id, sa.func.sum(md.c.net_cents))
            .where(
                md.c.member_id.in_(audience),
                md.c.day >= (first - epoch).days,
                md.c.day <= (last - epoch).days,
                md.c.orders > 0,
            )
            .group_by(md.c.member_id)
        ).all()
    )
    sides = {True: [0, 0, 0], False: [0, 0, 0]}  # held out -> members, visitors, cents
    for (member_id,) in conn.execute(audience):
        side = sides[bool(c.control_percent) and held_out(member_id, c.code, c.control_percent)]
        side[0] += 1
        if member_id in spend:
            side[1] += 1
            side[2] += int(spend[member_id])
    (tn, tv, tc_), (cn, cv, cc) = sides[False], sides[True]
    treated_spend, control_spend = (tc_ // tn if tn else 0), (cc // cn if cn else 0)
    return {
        "treated": tn,
        "held_out": cn,
        "treated_spend_cents": treated_spend,
        "control_spend_cents": control_spend,
        "spend_uplift_pct": _pct(treated_spend - control_spend, control_spend),
        "treated_visit_pct": _pct(tv, tn),
        "control_visit_pct": _pct(cv, cn),
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None
