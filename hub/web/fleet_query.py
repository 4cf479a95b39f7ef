"""The fleet page's query: filters (state, branch, kind, software version, a search of
device ids and branch names) and paging done in SQL, so a page costs the same at 1,000
devices as at 10; the branch summary (online n of m) for the branches on the page.

A device's state is worked out in SQL the same way as hub.web.fleet.presence does it in
Python (tests/web/test_fleet_page.py checks that they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.web.fleet import DEVICE_COLUMNS, device_view
from hub.web.settings import WebSettings

STATES = ("online", "stale", "offline", "never", "revoked")
PAGE_ROWS = 50
PAGE_MAX = 10_000
SEARCH_CHARS_MAX = 100


@dataclass(frozen=True, slots=True)
class FleetFilter:
    state: str = ""  # one of STATES, "down" (offline or stale) or "" for all
    branch: str = ""
    kind: str = ""
    version: str = ""
    q: str = ""
    page: int = 1


@dataclass
class FleetPage:
    devices: list[dict[str, Any]]
    total: int  # devices matching the filter
    page: int
    pages: int
    branches: dict[str, dict[str, Any]] = field(default_factory=dict)  # on this page


def state_clause(state: str, now_ms: int, cfg: WebSettings) -> sa.ColumnElement[bool]:
    d = db.devices
    fresh = d.c.last_seen_ms >= now_ms - int(cfg.stale_after_s * 1000)
    active = d.c.state != "revoked"
    online = d.c.online.is_(True)
    offline = d.c.online.is_(False)
    clauses: dict[str, sa.ColumnElement[bool]] = {
        "revoked": d.c.state == "revoked",
        "never": sa.and_(active, offline, d.c.last_seen_ms == 0),
        "offline": sa.and_(active, offline, d.c.last_seen_ms > 0),
        "stale": sa.and_(active, online, ~fresh),
        "online": sa.and_(active, online, fresh),
    }
    if state == "down":
        return sa.or_(clauses["offline"], clauses["stale"])
    return clauses[state]


def _where(f: FleetFilter, scope: str | None, now_ms: int, cfg: WebSettings) -> list[Any]:
    d, b = db.devices, db.branches
    where: list[Any] = []
    if scope is not None:
        where.append(d.c.branch_id == scope)
    if f.state in STATES or f.state == "down":
        where.append(state_clause(f.state, now_ms, cfg))
    if f.branch:
        where.append(d.c.branch_id == f.branch)
    if f.kind:
        where.append(d.c.kind == f.kind)
    if f.version:
        where.append(d.c.software_version == f.version)
    if f.q:
        text = f.q.strip().lower()[:SEARCH_CHARS_MAX]
        where.append(
            sa.or_(
                sa.func.lower(d.c.id).contains(text, autoescape=True),
                sa.func.lower(b.c.name).contains(text, autoescape=True),
            )
        )
    return where


def fleet_page(
    conn: Connection, cfg: WebSettings, f: FleetFilter, scope: str | None, now_ms: int
) -> FleetPage:
    d, b = db.devices, db.branches
    joined = d.join(b, b.c.id == d.c.branch_id)
    where = _where(f, scope, now_ms, cfg)
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
    )
    pages = max(1, -(-total // PAGE_ROWS))
    page = min(max(1, f.page), pages, PAGE_MAX)
    rows = conn.execute(
        sa.select(*DEVICE_COLUMNS, b.c.name.label("branch_name"))
        .select_from(joined)
        .where(*where)
        .order_by(b.c.name, d.c.branch_id, d.c.id)
        .limit(PAGE_ROWS)
        .offset((page - 1) * PAGE_ROWS)
    ).all()
    views = []
    for row in rows:
        view = device_view(row, now_ms, cfg)
        view["branch_name"] = row.branch_name
        views.append(view)
    branches = branch_summary(conn, cfg, sorted({v["branch"] for v in views}), now_ms)
    return FleetPage(views, total, page, pages, branches)


def branch_summary(
    conn: Connection, cfg: WebSettings, branch_ids: list[str], now_ms: int
) -> dict[str, dict[str, Any]]:
    """Per branch: its name, active devices and how many are online (whatever the filter)."""
    if not branch_ids:
        return {}
    d, b = db.devices, db.branches
    online = sa.case((state_clause("online", now_ms, cfg), 1), else_=0)
    rows = conn.execute(
        sa.select(b.c.id, b.c.name, sa.func.count(d.c.id), sa.func.sum(online))
        .select_from(b.join(d, d.c.branch_id == b.c.id))
        .where(b.c.id.in_(branch_ids), d.c.state != "revoked")
        .group_by(b.c.id, b.c.name)
    ).all()
    found = {
        bid: {"name": name, "total": int(n), "online": int(up or 0)} for bid, name, n, up in rows
    }
    names = dict(conn.execute(sa.select(b.c.id, b.c.name).where(b.c.id.in_(branch_ids))).all())
    return {
        bid: found.get(bid, {"name": names.get(bid, bid), "total": 0, "online": 0})
        for bid in branch_ids
    }


def filter_options(conn: Connection, scope: str | None) -> dict[str, list[Any]]:
    """What the filter lists offer: branches (id, name), kinds and software versions."""
    d, b = db.devices, db.branches
    branches = sa.select(b.c.id, b.c.name).order_by(b.c.name)
    kinds = sa.select(d.c.kind).distinct().order_by(d.c.kind)
    versions = sa.select(d.c.software_version).distinct().order_by(d.c.software_version)
    if scope is not None:
        branches = branches.where(b.c.id == scope)
        kinds = kinds.where(d.c.branch_id == scope)
        versions = versions.where(d.c.branch_id == scope)
    return {
        "branches": [tuple(r) for r in conn.execute(branches)],
        "kinds": list(conn.execute(kinds).scalars()),
        "versions": [v for v in conn.execute(versions).scalars() if v],
    }
