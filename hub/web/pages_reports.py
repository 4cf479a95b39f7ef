"""Pages: reports with charts and CSV, rules and their roll-out, users (the audit trail is
hub/web/pages_audit.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection
from starlette.datastructures import UploadFile

from hub import db
from hub.admin.audit import audit
from hub.rulestore import parse_rules, store_rules
from hub.web import auth, i18n, reporting
from hub.web.deps import (
    form_for_change,
    page_user,
    parse_date,
    require_admin,
    scope,
    web,
)
from hub.web.export import csv_response
from hub.web.pages_fleet import done, render
from hub.web.settings import RULES_FILE_BYTES_MAX
from tapcard.domain.rules import CampaignKind, RuleSet
from tapcard.domain.window import Window, window_words
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]

ShortQuery = Annotated[str, Query(max_length=48)]


def _branches(conn: Connection, user: auth.User) -> list[str]:
    query = sa.select(db.branches.c.id).order_by(db.branches.c.id)
    if user.branch_scope is not None:
        query = query.where(db.branches.c.id == user.branch_scope)
    return list(conn.execute(query).scalars())


def _branch_names(conn: Connection) -> dict[str, str]:
    """Branch id -> what an operator calls it: the name, with the id when two share it."""
    rows = conn.execute(sa.select(db.branches.c.id, db.branches.c.name)).all()
    names = [name for _id, name in rows]
    return {i: n if n and names.count(n) == 1 else f"{n or i} ({i})" for i, n in rows}


def _named(rows: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """The page's rows with branches by name (the CSV keeps the ids, for scripts)."""
    keys = ("branch", "home_branch")
    return [{k: names.get(v, v) if k in keys else v for k, v in r.items()} for r in rows]


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    user: User,
    name: ShortQuery = "turnover",
    start: ShortQuery = "",
    end: ShortQuery = "",
    branch: ShortQuery = "",
) -> Response:
    if name not in reporting.REPORTS:
        raise HTTPException(404, f"no report {name}")
    with web(request).hub.engine.connect() as conn:
        rows = reporting.run(conn, name, parse_date(start), parse_date(end), scope(user, branch))
        branches = _branches(conn, user)
        names = _branch_names(conn)
        today = db.today_at(conn)
    rows = _named(rows, names)
    translate = i18n.translator(i18n.request_lang(request))
    columns = list(rows[0]) if rows else []
    return render(
        request,
        "reports.html",
        user,
        name=name,
        title=reporting.REPORTS[name][0],
        reports=reporting.REPORTS,
        rows=rows,
        columns=columns,
        headers=[reporting.column_words(c) for c in columns],
        chart=reporting.chart_data(name, rows, translate),
        presets=[(w, a.isoformat(), b.isoformat()) for w, a, b in reporting.presets(today)],
        start=start,
        end=end,
        branch=scope(user, branch) or "",
        branches=[(b, names.get(b, b)) for b in branches],
        query=str(request.url.query),
    )


@router.get("/reports.csv")
def report_csv(
    request: Request,
    user: User,
    name: ShortQuery = "turnover",
    start: ShortQuery = "",
    end: ShortQuery = "",
    branch: ShortQuery = "",
) -> Response:
    if name not in reporting.REPORTS:
        raise HTTPException(404, f"no report {name}")
    with web(request).hub.engine.connect() as conn:
        rows = reporting.run(conn, name, parse_date(start), parse_date(end), scope(user, branch))
    return csv_response(reporting.csv_rows(rows), name)


def rules_status(conn: Connection, user: auth.User) -> dict[str, Any]:
    """The active rule set and which devices run it (devices.rules_version)."""
    latest = conn.execute(
        sa.select(db.rule_sets).order_by(db.rule_sets.c.version.desc()).limit(1)
    ).first()
    d = db.devices
    query = sa.select(d.c.id, d.c.branch_id, d.c.rules_version, d.c.state).order_by(
        d.c.branch_id, d.c.id
    )
    if user.branch_scope is not None:
        query = query.where(d.c.branch_id == user.branch_scope)
    devices = [dict(row._mapping) for row in conn.execute(query)]
    version = int(latest.version) if latest is not None else 0
    versions = conn.execute(
        sa.select(
            db.rule_sets.c.version,
            db.rule_sets.c.name,
            db.rule_sets.c.loaded_ms,
            db.rule_sets.c.actor,
        )
        .order_by(db.rule_sets.c.version.desc())
        .limit(20)
    )
    return {
        "version": version,
        "name": latest.name if latest is not None else "",
        "loaded_ms": int(latest.loaded_ms) if latest is not None else 0,
        "body": json.loads(latest.body) if latest is not None else None,
        "acknowledged": sum(1 for x in devices if x["rules_version"] == version),
        "devices": devices,
        "versions": [dict(v._mapping) for v in versions],
    }


def window_rows(rules: RuleSet) -> list[dict[str, str]]:
    """Multipliers and campaigns with when each applies, in Chinese, then English."""
    rows = [
        {"name": x.name, "what": f"{x.factor_pct} % points", "when": _when(x)}
        for x in rules.multipliers
    ]
    for c in rules.campaigns:
        # A welcome campaign's days after joining belong to when it applies.
        shown = c
        if c.kind is CampaignKind.NEW_MEMBER and c.joined_within_days is None:
            shown = dataclasses.replace(c, joined_within_days=c.new_member_days)
        rows.append({"name": c.code, "what": c.kind.value, "when": _when(shown)})
    return rows


def _when(window: Window) -> str:
    zh, en = window_words(window)
    return f"{zh} / {en}"


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: User, branch: str = "", device: str = "") -> Response:
    from hub.web.rules_effective import effective_view, override_rows

    rules, overrides, effective = None, [], None
    with web(request).hub.engine.connect() as conn:
        status = rules_status(conn, user)
        if status["body"]:
            rules = msgspec.convert(status["body"], RuleSet)
            overrides = override_rows(rules, user, {d["id"] for d in status["devices"]})
            if user.branch_scope is not None:  # the rule set as shown: no other branch's
                seen = {(o["device"], o["id"]) for o in overrides}
                status["body"]["overrides"] = [
                    o
                    for o in status["body"].get("overrides", [])
                    if (o["scope"] == "device", o["id"]) in seen
                ]
            if branch or device or user.branch_scope is not None:
                effective = effective_view(conn, rules, user, branch.strip(), device.strip())
        branches = _branches(conn, user)
    body = json.dumps(status["body"], indent=2, ensure_ascii=False) if status["body"] else ""
    rows = window_rows(rules) if rules is not None else []
    return render(
        request,
        "rules.html",
        user,
        s=status,
        body=body,
        windows=rows,
        overrides=overrides,
        eff=effective,
        branches=branches,
    )


@router.post("/rules")
async def upload_rules(request: Request, user: User) -> Response:
    form = await form_for_change(request, user)
    require_admin(user)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return done("/rules", error="choose a rule set file (JSON)")
    try:
        data = await upload.read(RULES_FILE_BYTES_MAX + 1)
    finally:
        await upload.close()  # its spooled temporary file
    if len(data) > RULES_FILE_BYTES_MAX:
        return done("/rules", error=f"a rule set is at most {RULES_FILE_BYTES_MAX // 1024} KiB")
    try:
        rules = parse_rules(data)
        with web(request).hub.transaction() as conn:
            store_rules(conn, rules, user.actor)
            audit(conn, user.actor, "rules.load", str(rules.version), {"name": rules.name})
    except TapcardError as exc:
        return done("/rules", error=str(exc))
    return done(
        "/rules", msg=f"rule set {rules.version} ({rules.name}) loaded; devices get it next"
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, user: User) -> Response:
    require_admin(user)
    with web(request).hub.engine.connect() as conn:
        users = auth.list_users(conn)
        branches = _branches(conn, user)
    return render(request, "users.html", user, users=users, branches=branches, roles=auth.ROLES)


@router.post("/users")
async def add_user(request: Request, user: User) -> Response:
    form = await form_for_change(request, user)
    require_admin(user)
    branch = str(form.get("branch_id") or "") or None
    try:
        with web(request).hub.transaction() as conn:
            auth.add_user(
                conn,
                str(form.get("username", "")).strip(),
                str(form.get("password", "")),
                str(form.get("role", "")),
                branch,
                user.actor,
            )
    except TapcardError as exc:
        return done("/users", error=str(exc))
    return done("/users", msg="user added")
