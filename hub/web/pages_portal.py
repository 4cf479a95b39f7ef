"""The member page's own pages, under /m: balances, the dynamic member QR, history,
vouchers with their codes, the profile, consent and a request to close the account.
HQ's list of the requests to close is on the dashboard, at /portal/close-requests.
"""

from __future__ import annotations

from typing import Annotated, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from hub import db, member_qr, portal, portal_close
from hub.notices.channels import ChannelName, Purpose
from hub.web import auth, history, portal_web
from hub.web.deps import form_for_change, page_user, require_write, web
from hub.web.pages_fleet import done
from hub.web.pages_fleet import render as dashboard_render
from hub.web.portal_web import Member, form_ok, member, render, to
from tapcard.domain.model import MemberStatus
from tapcard.errors import ConflictError, NotFoundError, TapcardError, ValidationError

# The page loads itself again this long before a code's 60 s are up, so the code on
# screen is always good for at least a quarter of a minute at the scanner.
QR_REFRESH_S: Final = 45
HISTORY_SHOWN: Final = 50
assert QR_REFRESH_S * 1000 < member_qr.LIFETIME_MS - 10_000

router = APIRouter(prefix="/m")
hq_router = APIRouter(include_in_schema=False)


def live_member(request: Request) -> Member:
    """The session's member while the account is open: the session is a signed cookie
    with nothing stored, so a closed account ends it here, at its next page."""
    who = member(request)
    with web(request).hub.engine.connect() as conn:
        state = conn.execute(
            sa.select(db.members.c.state).where(db.members.c.id == who.member_id)
        ).scalar()
    if state != MemberStatus.ACTIVE.value:
        raise HTTPException(
            303,
            "this account is closed",
            headers={"Location": portal_web.PREFIX + "/login?msg=closed"},
        )
    return who


Who = Annotated[Member, Depends(live_member)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, who: Who) -> Response:
    hub = web(request).hub
    with hub.engine.connect() as conn:
        view = portal.overview(conn, who.member_id)
        asked = portal_close.latest_request(conn, who.member_id)
    return render(request, "home.html", who=who, view=view, asked=asked)


@router.get("/qr", response_class=HTMLResponse)
def qr_page(request: Request, who: Who) -> Response:
    """A fresh code each load; the page reloads itself before it expires (a meta
    refresh: no script, which the site's policy would refuse inline anyway)."""
    hub = web(request).hub
    with hub.engine.connect() as conn:
        card = member_qr.card_of_member(conn, who.member_id)
    if card is None:
        return render(request, "qr.html", who=who, code=None, refresh_s=QR_REFRESH_S)
    code = member_qr.make(hub.secrets, card, hub.clock.now_ms())
    return render(
        request,
        "qr.html",
        who=who,
        code=code,
        svg=portal.qr_svg(code.text),
        refresh_s=QR_REFRESH_S,
    )


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, who: Who) -> Response:
    with web(request).hub.engine.connect() as conn:
        rows = history.member_history(conn, who.member_id, HISTORY_SHOWN)
    return render(request, "history.html", who=who, rows=rows)


@router.get("/vouchers", response_class=HTMLResponse)
def vouchers_page(request: Request, who: Who) -> Response:
    hub = web(request).hub
    with hub.engine.connect() as conn:
        rows = portal.vouchers(conn, who.member_id, hub.clock.now_ms())
    for row in rows:
        row["svg"] = portal.qr_svg(str(row["code"]))
    return render(request, "vouchers.html", who=who, rows=rows)


# --- the profile --------------------------------------------------------------------------


@router.get("/profile", response_class=HTMLResponse)
def profile_page(request: Request, who: Who, error: str = "") -> Response:
    from hub.admin.members import member_view

    with web(request).hub.engine.connect() as conn:
        view = member_view(conn, who.member_id)
    return render(request, "profile.html", who=who, view=view, error=error)


@router.post("/profile")
def profile_change(
    request: Request,
    who: Who,
    csrf: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=200)],
    birthday: Annotated[str, Form(max_length=10)] = "",
    address: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not form_ok(request, who, csrf):
        return to("/profile", "form")
    try:
        with web(request).hub.transaction() as conn:
            portal.change_profile(conn, who.member_id, name, address, birthday)
    except (ValidationError, ConflictError, NotFoundError):
        return to("/profile", "invalid")
    return to("/profile", "saved")


# --- consent --------------------------------------------------------------------------------


def _choice_name(channel: ChannelName, purpose: Purpose) -> str:
    return f"{channel.value}.{purpose.value}"


@router.get("/consent", response_class=HTMLResponse)
def consent_page(request: Request, who: Who) -> Response:
    with web(request).hub.engine.connect() as conn:
        now = portal.consents(conn, who.member_id)
    choices = [(c.value, p.value, _choice_name(c, p), now[(c, p)]) for c, p in portal.CHOICES]
    return render(request, "consent.html", who=who, choices=choices)


@router.post("/consent")
async def consent_change(request: Request, who: Who) -> Response:
    form = await request.form()  # the body is capped before it is read (BodyLimit)
    if not form_ok(request, who, str(form.get("csrf", ""))):
        return to("/consent", "form")
    wanted = {(c, p): form.get(_choice_name(c, p)) == "yes" for c, p in portal.CHOICES}
    with web(request).hub.transaction() as conn:
        portal.set_consents(conn, who.member_id, wanted)
    return to("/consent", "consent_saved")


# --- closing the account ------------------------------------------------------------------


@router.get("/close", response_class=HTMLResponse)
def close_page(request: Request, who: Who) -> Response:
    with web(request).hub.engine.connect() as conn:
        pending = portal.open_close_request(conn, who.member_id)
        asked = portal_close.latest_request(conn, who.member_id)
        view = portal.overview(conn, who.member_id)
    return render(request, "close.html", who=who, pending=pending, asked=asked, view=view)


@router.post("/close")
def close_request(
    request: Request,
    who: Who,
    csrf: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=portal.REASON_CHARS_MAX)] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if not form_ok(request, who, csrf):
        return to("/close", "form")
    if confirm != "yes":
        return to("/close", "confirm")
    hub = web(request).hub
    try:
        with hub.transaction() as conn:
            portal.request_close(conn, who.member_id, reason, hub.clock.now_ms())
    except ConflictError:
        return to("/close", "close_open")
    return to("/close", "close_sent")


# --- HQ: the requests to close ----------------------------------------------------------------


def _hq(request: Request, write: bool = False) -> auth.User:
    user = page_user(request)
    if user.branch_scope is not None:  # a member of any branch may ask: HQ acts
        raise HTTPException(403, "only HQ sees the requests to close an account")
    if write:
        require_write(user)
    return user


@hq_router.get("/portal/close-requests", response_class=HTMLResponse)
def close_requests_page(request: Request, show: str = "open") -> Response:
    """Open requests with what stands in the way; `show=history`: the answered ones."""
    user = _hq(request)
    history_shown = show == "history"
    with web(request).hub.engine.connect() as conn:
        rows = portal_close.requests(conn, history_shown)
        for row in rows:
            row.update(_standing(conn, int(row["member_id"])))
    return dashboard_render(
        request, "portal/close_requests.html", user, rows=rows, history=history_shown
    )


def _standing(conn: Connection, member_id: int) -> dict[str, object]:
    """The member's name and balances, and why the account cannot be closed yet."""
    from hub.admin.members import member_view
    from hub.privacy_close import closable

    view = member_view(conn, member_id)
    cents = int(view["balances"].get("cents", 0))
    blocked = ""
    try:
        closable(conn, member_id)
    except TapcardError as exc:
        blocked = "" if cents else str(exc)  # stored value has its own words on the page
    return {
        "name": view["name"],
        "member_state": view["state"],
        "cents": cents,
        "points": int(view["balances"].get("points", 0)),
        "blocked": blocked,
    }


@hq_router.post("/portal/close-requests/{request_id}/decline")
async def decline_close(request: Request, request_id: int) -> Response:
    user = _hq(request, write=True)
    form = await form_for_change(request, user)
    try:
        with web(request).hub.transaction() as conn:
            member_id = portal_close.decline(
                conn, request_id, user.actor, str(form.get("answer", ""))
            )
    except TapcardError as exc:
        return done("/portal/close-requests", error=str(exc))
    return done("/portal/close-requests", msg="Request of member #{id} declined", id=member_id)


def include(app: FastAPI) -> None:
    """The member page's routes and HQ's list, on the dashboard's app."""
    app.include_router(portal_web.router)
    app.include_router(router)
    app.include_router(hq_router)
