"""Page: the audit trail, filtered by user, action, object and date on the server, a page
at a time, each entry's detail in words (HQ admins and auditors only)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from hub import db
from hub.web import auth, i18n
from hub.web.deps import page_user, parse_date, web
from hub.web.history import describe
from hub.web.pages_fleet import render

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]

AUDIT_PAGE_ROWS: Final = 50
AUDIT_PAGES_MAX: Final = 10_000
FILTER_CHARS_MAX: Final = 128
ACTIONS_LISTED_MAX: Final = 200
Filter = Annotated[str, Query(max_length=FILTER_CHARS_MAX)]


def _day_start_ms(day: dt.date, zone: dt.tzinfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp() * 1000)


def _conditions(
    actor: str, action: str, target: str, since_ms: int | None, until_ms: int | None
) -> list[sa.ColumnElement[bool]]:
    a = db.audit.c
    conditions: list[sa.ColumnElement[bool]] = []
    if actor:
        conditions.append(a.actor.contains(actor, autoescape=True))
    if action:
        conditions.append(a.action == action if "." in action else a.action.startswith(action))
    if target:
        conditions.append(a.target.contains(target, autoescape=True))
    if since_ms is not None:
        conditions.append(a.at_ms >= since_ms)
    if until_ms is not None:
        conditions.append(a.at_ms < until_ms)
    return conditions


def _readable(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return text


def audit_entries(
    conn: Connection, conditions: list[sa.ColumnElement[bool]], page: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of entries, newest first, and how many match in all."""
    where = sa.and_(sa.true(), *conditions)
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(db.audit).where(where)).scalar_one()
    )
    rows = conn.execute(
        sa.select(db.audit)
        .where(where)
        .order_by(db.audit.c.id.desc())
        .limit(AUDIT_PAGE_ROWS)
        .offset((page - 1) * AUDIT_PAGE_ROWS)
    )
    entries = [dict(r._mapping) for r in rows]
    for entry in entries:
        entry["detail"] = _readable(entry["detail"])
    return entries, total


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user: User,
    actor: Filter = "",
    action: Filter = "",
    target: Filter = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=AUDIT_PAGES_MAX)] = 1,
) -> Response:
    if user.branch_scope is not None:
        raise HTTPException(403, "the audit trail is for HQ admins and auditors")
    zone = i18n.business_zone(request)
    first, last = parse_date(since), parse_date(until)
    since_ms = _day_start_ms(first, zone) if first else None
    # up to the end of the last day, whatever its length in the zone
    until_ms = _day_start_ms(last + dt.timedelta(days=1), zone) if last else None
    conditions = _conditions(actor.strip(), action.strip(), target.strip(), since_ms, until_ms)
    with web(request).hub.engine.connect() as conn:
        entries, total = audit_entries(conn, conditions, page)
        actions = list(
            conn.execute(
                sa.select(db.audit.c.action)
                .distinct()
                .order_by(db.audit.c.action)
                .limit(ACTIONS_LISTED_MAX)
            ).scalars()
        )
    pages = max(1, -(-total // AUDIT_PAGE_ROWS))
    query = {"actor": actor, "action": action, "target": target, "since": since, "until": until}
    return render(
        request,
        "audit.html",
        user,
        entries=entries,
        total=total,
        page=page,
        pages=pages,
        f=query,
        actions=actions,
        describe=describe,
    )
