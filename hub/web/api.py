"""The JSON API (described at /api/openapi.json), live fleet events and /metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from hub import db
from hub import metrics as hub_metrics
from hub.admin.cards import report_lost
from hub.admin.members import member_history, member_view, search_members
from hub.web import alerts, auth, reporting
from hub.web.deps import api_user, check_api_change, parse_date, require_branch, scope, web
from hub.web.fleet import fleet, health_history
from hub.web.pages_reports import rules_status
from hub.web.scoping import MemberId, card_branch, member_rows_in_scope
from tapcard.domain.model import CardState
from tapcard.wire.codes import Reason

router = APIRouter(prefix="/api", tags=["dashboard"])
User = Annotated[auth.User, Depends(api_user)]

SSE_TICK_S = 0.2  # how often a stream looks at the watcher's version
SSE_KEEPALIVE_S = 15.0
SEARCH_TEXT_LEN_MAX = 100


class Me(BaseModel):
    username: str
    role: str
    branch_id: str | None
    csrf: str = Field(description="send back as X-CSRF-Token on every POST")


@router.get("/me")
def me(user: User) -> Me:
    return Me(username=user.username, role=user.role, branch_id=user.branch_id, csrf=user.csrf)


@router.get("/fleet")
def api_fleet(request: Request, user: User) -> list[dict[str, Any]]:
    w = web(request)
    with w.hub.engine.connect() as conn:
        return fleet(conn, w.cfg, user.branch_scope)


@router.get("/devices/{device_id}/health")
def api_device_health(request: Request, device_id: str, user: User) -> list[dict[str, Any]]:
    w = web(request)
    with w.hub.engine.connect() as conn:
        branch = conn.execute(
            sa.select(db.devices.c.branch_id).where(db.devices.c.id == device_id)
        ).scalar()
        if branch is None:
            raise HTTPException(404, f"device {device_id} does not exist")
        require_branch(user, branch)
        return health_history(conn, device_id)


def _alerts(request: Request, user: auth.User) -> list[alerts.Alert]:
    return alerts.for_user(web(request).watcher.current_alerts(), user)


@router.get("/alerts")
def api_alerts(request: Request, user: User) -> dict[str, Any]:
    found = _alerts(request, user)
    return {"counts": alerts.counts(found), "alerts": [a.as_dict() for a in found]}


@router.post("/alerts/{key}/ack")
def api_ack(request: Request, key: str, user: User) -> dict[str, str]:
    check_api_change(request, user)
    alert = alerts.find(_alerts(request, user), key)
    with web(request).hub.writer.begin() as conn:
        alerts.acknowledge(conn, alert, user)
    web(request).watcher.invalidate_alerts()
    return {"acknowledged": key}


@router.get("/members")
def api_members(
    request: Request, user: User, q: Annotated[str, Query(min_length=1, max_length=100)]
) -> list[dict[str, Any]]:
    with web(request).hub.engine.connect() as conn:
        found = search_members(conn, q)
        return member_rows_in_scope(conn, found, user)


@router.get("/members/{member_id}")
def api_member(request: Request, member_id: MemberId, user: User) -> dict[str, Any]:
    with web(request).hub.engine.connect() as conn:
        view = member_view(conn, member_id)
        require_branch(user, view["branch_id"])
        view["history"] = member_history(conn, member_id)
    return json.loads(json.dumps(view, default=str))  # type: ignore[no-any-return]


@router.post("/cards/{card_id}/lost")
def api_card_lost(request: Request, card_id: str, user: User) -> dict[str, Any]:
    check_api_change(request, user)
    hub = web(request).hub
    with hub.transaction() as conn:
        require_branch(user, card_branch(conn, card_id))
        version = report_lost(conn, card_id, user.actor)
    return {"card_id": card_id, "state": CardState.LOST.value, "denylist_version": version}


@router.get("/reports/{name}")
def api_report(
    request: Request,
    name: str,
    user: User,
    start: Annotated[str | None, Query(max_length=10)] = None,
    end: Annotated[str | None, Query(max_length=10)] = None,
    branch: Annotated[str | None, Query(max_length=48)] = None,
) -> list[dict[str, Any]]:
    if name not in reporting.REPORTS:
        raise HTTPException(404, f"no report {name}; try {', '.join(reporting.REPORTS)}")
    with web(request).hub.engine.connect() as conn:
        return reporting.run(conn, name, parse_date(start), parse_date(end), scope(user, branch))


@router.get("/rules")
def api_rules(request: Request, user: User) -> dict[str, Any]:
    with web(request).hub.engine.connect() as conn:
        return rules_status(conn, user)


# --- live events ------------------------------------------------------------------


async def _stream(request: Request, user: auth.User) -> AsyncIterator[str]:
    w = web(request)
    version, last_sent = -1, 0.0
    yield "retry: 1000\n\n"
    while not w.watcher.stopping:
        current, devices = w.watcher.snapshot()
        if current != version:
            version = current
            rows = [d for d in devices.values() if user.sees_branch(d["branch"])]
            found = w.watcher.current_alerts()
            counts = alerts.counts(alerts.for_user(found, user))
            payload = json.dumps({"version": version, "devices": rows, "counts": counts})
            last_sent = time.monotonic()
            yield f"event: fleet\ndata: {payload}\n\n"
        elif time.monotonic() - last_sent > SSE_KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keepalive\n\n"
        await asyncio.sleep(SSE_TICK_S)


def fleet_events(request: Request, user: auth.User) -> Response:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _stream(request, user), media_type="text/event-stream", headers=headers
    )


@router.get("/events", include_in_schema=False)
def api_events(request: Request, user: User) -> Response:
    """Server-sent events: `fleet` with every visible device whenever one changes."""
    return fleet_events(request, user)


# --- Prometheus ---------------------------------------------------------------------

metrics_router = APIRouter(include_in_schema=False)


def _metric(
    lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, Any]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lines.append(f"{name}{labels} {value}")


def _reason_name(code: int) -> str:
    try:
        return Reason(code).name.lower()
    except ValueError:
        return str(code)


@metrics_router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format; ingest rate is rate(tapcard_results_total[1m]). No login,
    so aggregates only (docs/dashboard.md): per-device figures are on /fleet."""
    w = web(request)
    r = db.results
    with w.hub.engine.connect() as conn:
        transfers = conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one()
        by_outcome = conn.execute(
            sa.select(r.c.accepted, r.c.reason, sa.func.count()).group_by(r.c.accepted, r.c.reason)
        ).all()
        refused = hub_metrics.rejections(conn)  # wire refusals have no stored result
    _, devices = w.watcher.snapshot()
    lines: list[str] = []
    _metric(lines, "tapcard_transfers_total", "counter", "transfers booked", [("", transfers)])
    accepted = sum(n for ok, _, n in by_outcome if ok)
    rejected = [(f'{{reason="{_reason_name(code)}"}}', n) for ok, code, n in by_outcome if not ok]
    _metric(
        lines,
        "tapcard_results_total",
        "counter",
        "intents answered",
        [('{accepted="true"}', accepted), ('{accepted="false"}', sum(n for _, n in rejected))],
    )
    by_reason = [(f'{{reason="{name}"}}', n) for name, n in refused.items()]
    _metric(lines, "tapcard_rejections_total", "counter", "refusals by reason", by_reason)
    presence = [
        (f'{{presence="{p}"}}', sum(1 for d in devices.values() if d["presence"] == p))
        for p in ("online", "stale", "offline", "never", "revoked")
    ]
    _metric(lines, "tapcard_devices", "gauge", "devices by presence", presence)
    # Aggregates only: /metrics needs no login, so it names no device and no branch.
    waiting = sum(int(d["outbox_depth"] or 0) for d in devices.values())
    oldest = max((int(d["outbox_oldest_age_s"] or 0) for d in devices.values()), default=0)
    _metric(
        lines, "tapcard_outbox_intents", "gauge", "intents waiting on all devices", [("", waiting)]
    )
    _metric(
        lines,
        "tapcard_outbox_oldest_age_seconds",
        "gauge",
        "oldest unsent intent on any device",
        [("", oldest)],
    )
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
