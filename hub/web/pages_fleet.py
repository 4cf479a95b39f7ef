"""Pages: login, fleet, device, alerts."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import db
from hub.notices.channels import SMTP_SECURITY
from hub.web import alert_store, alert_thresholds, alerts, auth, i18n, notify_settings, throttle
from hub.web.alert_schema import NOTE_LEN_MAX
from hub.web.deps import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    form_for_change,
    page_user,
    require_admin,
    require_branch,
    set_cookie,
    web,
)
from hub.web.fleet import fleet, health_history
from hub.web.fleet_query import STATES, FleetFilter, filter_options, fleet_page
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]


def render(
    request: Request,
    template: str,
    user: auth.User | None,
    found: list[alerts.Alert] | None = None,
    **context: Any,
) -> Response:
    """A page; `found` passes the alerts a page already computed for the nav's count."""
    w = web(request)
    counts: dict[str, int] = {}
    if user is not None:
        counts = alerts.counts(found if found is not None else current_alerts(request, user))
    return w.templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "counts": counts,
            "msg": request.query_params.get("msg", ""),
            "error": request.query_params.get("error", ""),
            **context,
        },
    )


def done(url: str, msg: str = "", error: str = "", **values: object) -> RedirectResponse:
    """Post/redirect/get, with a one-line outcome shown on the next page: an English
    msgid with `{fields}` and their values, translated there as a whole."""
    sep = "&" if "?" in url else "?"
    if msg:
        url += f"{sep}msg={quote(msg)}"
    elif error:
        url += f"{sep}error={quote(error)}"
    for name, value in values.items() if msg or error else ():
        url += f"&{i18n.FLASH_PREFIX}{name}={quote(str(value))}"
    return RedirectResponse(url, status_code=303)


def current_alerts(request: Request, user: auth.User) -> list[alerts.Alert]:
    return alerts.for_user(web(request).watcher.current_alerts(), user)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/fleet") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        login_csrf=token,
        next=_safe_next(next),
        tries_max=throttle.LOGIN_TRIES_MAX,
        lockout_min=throttle.LOGIN_LOCKOUT_S // 60,
    )
    set_cookie(response, request, LOGIN_COOKIE, token, 600)
    return response


def _safe_next(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else "/fleet"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=200)] = "/fleet",
) -> Response:
    if not auth.csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), csrf):
        return done("/login", error="the login form expired: try again")
    w = web(request)
    address = request.client.host if request.client else ""
    with w.hub.writer.begin() as conn:
        known = request.cookies.get(throttle.KNOWN_COOKIE, "")
        key = throttle.known_key(w.hub.secrets.secret)
        outcome = throttle.attempt(conn, username, password, address, known, key)
        user = outcome.user
        session = auth.open_session(conn, user, w.cfg.session_ttl_s) if user else None
    if outcome.locked_s:
        return done("/login", error=throttle.locked_text(outcome.locked_s))
    if session is None:
        return done("/login", error=throttle.WRONG_TEXT)
    response = done(_safe_next(next))
    set_cookie(response, request, SESSION_COOKIE, session[0], int(w.cfg.session_ttl_s))
    # This browser is known for this account now: exempt from the account-wide slowdown.
    set_cookie(response, request, throttle.KNOWN_COOKIE, outcome.known, throttle.KNOWN_LOGIN_S)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, user: User) -> Response:
    await form_for_change_any_role(request, user)
    with web(request).hub.writer.begin() as conn:
        auth.close_session(conn, request.cookies.get(SESSION_COOKIE, ""))
    response = done("/login", msg="logged out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def form_for_change_any_role(request: Request, user: auth.User) -> None:
    form = await request.form()
    given = form.get("csrf")
    if not auth.csrf_ok(user.csrf, given if isinstance(given, str) else None):
        raise HTTPException(403, "the form has expired or did not come from this site: reload it")


@router.get("/")
def home(_user: User) -> Response:
    return RedirectResponse("/fleet", status_code=303)


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page_view(
    request: Request,
    user: User,
    state: Annotated[str, Query(max_length=16)] = "",
    branch: Annotated[str, Query(max_length=48)] = "",
    kind: Annotated[str, Query(max_length=16)] = "",
    version: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    w = web(request)
    f = FleetFilter(state if state in (*STATES, "down") else "", branch, kind, version, q, page)
    found = current_alerts(request, user)
    with w.hub.engine.connect() as conn:
        now_ms = db.now_ms(conn)
        shown = fleet_page(conn, w.cfg, f, user.branch_scope, now_ms)
        options = filter_options(conn, user.branch_scope)
    open_by_branch: dict[str, int] = {}
    for a in found:
        if a.acked_by is None and a.branch is not None:
            open_by_branch[a.branch] = open_by_branch.get(a.branch, 0) + 1
    groups: dict[str, list[dict[str, Any]]] = {}
    for dev in shown.devices:
        groups.setdefault(dev["branch"], []).append(dev)
    keep = {k: v for k, v in vars_of(f).items() if v and k != "page"}
    return render(
        request,
        "fleet.html",
        user,
        found,
        shown=shown,
        groups=groups,
        open_by_branch=open_by_branch,
        options=options,
        states=STATES,
        f=f,
        query=urlencode(keep),
    )


def vars_of(f: FleetFilter) -> dict[str, Any]:
    return {name: getattr(f, name) for name in f.__slots__}


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, device_id: str, user: User) -> Response:
    w = web(request)
    with w.hub.engine.connect() as conn:
        views = fleet(conn, w.cfg, device_id=device_id)
        if not views:
            raise HTTPException(404, f"device {device_id} does not exist")
        require_branch(user, views[0]["branch"])
        history = health_history(conn, device_id)
        seq_max = conn.execute(
            sa.select(db.devices.c.seq_max).where(db.devices.c.id == device_id)
        ).scalar_one()
    return render(request, "device.html", user, dev=views[0], history=history, seq_max=seq_max)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request, user: User, history: Annotated[str, Query(max_length=8)] = ""
) -> Response:
    found = current_alerts(request, user)
    shown = sorted(found, key=lambda a: (a.acked_by is not None, KIND_ORDER.get(a.kind, 99), a.key))
    w = web(request)
    with w.hub.engine.connect() as conn:
        past = alert_store.history(conn, user.branch_scope, history)
        limits = alert_thresholds.current(alert_thresholds.effective(conn, w.cfg))
        notify = notify_settings.current(notify_settings.effective(conn, w.cfg))
    return render(
        request,
        "alerts.html",
        user,
        found,
        alerts=shown,
        past=past,
        history_state=history,
        thresholds=alert_thresholds.THRESHOLDS,
        limits=limits,
        note_max=NOTE_LEN_MAX,
        notify=notify,
        notify_fields=notify_settings.FIELDS,
        smtp_security=SMTP_SECURITY,
    )


KIND_ORDER = {kind: i for i, kind in enumerate(alerts.KINDS)}


@router.post("/alerts/ack")
async def ack_alert(request: Request, user: User) -> Response:
    """One alert (its row's button, `only`, or `key`) or the ticked ones (`keys`), with
    an optional note."""
    form = await form_for_change(request, user)
    posted = await request.form()
    only = str(form.get("only", "") or form.get("key", ""))
    keys = [only] if only else [str(k) for k in posted.getlist("keys")]
    note = str(form.get("note", "")).strip()[:NOTE_LEN_MAX]
    found = current_alerts(request, user)
    chosen = [alerts.find(found, key) for key in keys if key]
    if not chosen:
        return done("/alerts", error="tick the alerts to acknowledge")
    for alert in chosen:
        require_branch(user, alert.branch)
    with web(request).hub.writer.begin() as conn:
        for alert in chosen:
            alerts.acknowledge(conn, alert, user, note)
    web(request).watcher.invalidate_alerts()  # an exception acked leaves the list
    if len(chosen) == 1:
        return done("/alerts", msg="acknowledged {key}", key=chosen[0].key)
    return done("/alerts", msg="acknowledged {n} alerts", n=len(chosen))


@router.post("/alerts/thresholds")
async def set_thresholds(request: Request, user: User) -> Response:
    form = await form_for_change(request, user)
    require_admin(user)
    w = web(request)
    try:
        values = alert_thresholds.parse({k: str(v) for k, v in form.items()})
    except TapcardError as exc:
        return done("/alerts", error=str(exc))
    with w.hub.writer.begin() as conn:
        alert_thresholds.store(conn, w.cfg, values, user.actor)
    w.watcher.invalidate_alerts()
    return done("/alerts", msg="alert thresholds saved")


@router.post("/alerts/notify")
async def set_notify(request: Request, user: User) -> Response:
    """Where new alerts are sent (an administrator; the secrets stay in the hub's
    environment): applies to the next alert that opens."""
    form = await form_for_change(request, user)
    require_admin(user)
    w = web(request)
    try:
        with w.hub.writer.begin() as conn:
            notify_settings.store(conn, w.cfg, {k: str(v) for k, v in form.items()}, user.actor)
    except TapcardError as exc:
        return done("/alerts", error=str(exc))
    return done("/alerts", msg="notification settings saved")
