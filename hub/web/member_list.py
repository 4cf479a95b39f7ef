"""The dashboard's member list: a search, or before one the top spenders of the last
days or the newest members, in pages with the total count.

The branch scope is part of each query (not a filter after it), so that a branch
manager's count and pages are of their own members only. Top spenders read
member_days (hub/member_days.py), a row per member and day, not the legs.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.members import search_condition
from hub.reports import _day_window
from hub.sales_reports import member_day

PAGE_ROWS: Final = 50
PAGE_MAX: Final = 10_000  # the page number a link may ask for
TOP_DAYS: Final = 30  # top spenders of the last 30 days, today included


class View(enum.StrEnum):
    """What the list shows before a search."""

    TOP = "top"  # the most spent in the last TOP_DAYS days
    NEW = "new"  # the newest members first


@dataclass(frozen=True, slots=True)
class MemberPage:
    rows: list[dict[str, Any]]  # id, name, phone, tier, state; spend and orders for TOP
    total: int  # members that match, on every page
    page: int
    pages: int

    @property
    def first(self) -> int:
        """The number of the page's first row (1-based; 0 when there is none)."""
        return (self.page - 1) * PAGE_ROWS + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_ROWS + len(self.rows)


def _paged(total: int, page: int) -> tuple[int, int, int]:
    """(page, pages, offset): the page asked for, kept within the pages there are."""
    pages = max(1, -(-total // PAGE_ROWS))
    page = min(max(1, page), pages, PAGE_MAX)
    return page, pages, (page - 1) * PAGE_ROWS


def _people(scope: str | None) -> list[sa.ColumnElement[bool]]:
    m = db.members
    conditions: list[sa.ColumnElement[bool]] = [m.c.person_id.is_(None)]
    if scope is not None:
        conditions.append(m.c.branch_id == scope)
    return conditions


_COLUMNS = (db.members.c.id, db.members.c.name, db.members.c.phone)
_MORE = (db.members.c.tier, db.members.c.state)


def search_page(conn: Connection, text: str, scope: str | None, page: int) -> MemberPage:
    """The members a search finds (as hub.admin.members.search_members), by id."""
    m = db.members
    conditions = [search_condition(text), *_people(scope)]
    total = int(conn.execute(sa.select(sa.func.count()).where(*conditions)).scalar_one())
    page, pages, offset = _paged(total, page)
    query = (
        sa.select(*_COLUMNS, *_MORE)
        .where(*conditions)
        .order_by(m.c.id)
        .offset(offset)
        .limit(PAGE_ROWS)
    )
    return MemberPage([dict(r._mapping) for r in conn.execute(query)], total, page, pages)


def newest_page(conn: Connection, scope: str | None, page: int) -> MemberPage:
    """Every member, the newest (highest id) first."""
    m = db.members
    conditions = _people(scope)
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(m).where(*conditions)).scalar_one()
    )
    page, pages, offset = _paged(total, page)
    query = (
        sa.select(*_COLUMNS, *_MORE, m.c.joined_on)
        .where(*conditions)
        .order_by(m.c.id.desc())
        .offset(offset)
        .limit(PAGE_ROWS)
    )
    return MemberPage([dict(r._mapping) for r in conn.execute(query)], total, page, pages)


def top_page(conn: Connection, today: dt.date, scope: str | None, page: int) -> MemberPage:
    """The members who spent most (net) in the last TOP_DAYS days, at any branch."""
    d, m = db.member_days, db.members
    since = today - dt.timedelta(days=TOP_DAYS - 1)
    net, orders = sa.func.sum(d.c.net_cents), sa.func.sum(d.c.orders)
    spend = (
        sa.select(d.c.member_id, net.label("net_cents"), orders.label("orders"))
        .where(*_day_window(member_day(conn), since, today))
        .group_by(d.c.member_id)
        .subquery()
    )
    joined = spend.join(m, m.c.id == spend.c.member_id)
    conditions = _people(scope)
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(joined).where(*conditions)).scalar_one()
    )
    page, pages, offset = _paged(total, page)
    query = (
        sa.select(*_COLUMNS, *_MORE, spend.c.net_cents, spend.c.orders)
        .select_from(joined)
        .where(*conditions)
        .order_by(spend.c.net_cents.desc(), m.c.id)
        .offset(offset)
        .limit(PAGE_ROWS)
    )
    rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["net_cents"], row["orders"] = int(row["net_cents"]), int(row["orders"])
    return MemberPage(rows, total, page, pages)
