"""Page: a branch's daily close (日结): the business day's money by tender and by device,
the tills' shifts with their differences, and the manager's sign-off.

Anyone who may see the branch sees the day (hub/till.py `day_report`); a manager of the
branch or an HQ admin closes it, through a confirmation that shows the figures to be
signed, and the close is audited as `web:<user>`. A closed day shows who closed it and
when, and what was booked on it after the close.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub import till
from hub.web import auth
from hub.web.deps import form_for_change, page_user, require_branch, require_write, web
from hub.web.pages_fleet import done, render
from hub.web.pages_reports import _branches
from tapcard.domain.authority import business_date
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]
ShortQuery = Annotated[str, Query(max_length=48)]
# The tenders as the page names them (English msgids; hub/web/locale has the Chinese).
TENDER_NAMES = {
    "cash": "Cash",
    "stored_value": "Stored value",
    "bank_card": "Bank card",
    "wechat": "WeChat Pay",
    "alipay": "Alipay",
}


def _day(request: Request, user: auth.User, branch: str, date: str) -> tuple[str, dt.date, str]:
    """The branch (the user's own for a manager), the day (today by default), the zone."""
    hub = web(request).hub
    zone = hub.rules.latest().time_zone
    branch = branch or user.branch_scope or ""
    require_branch(user, branch)
    try:
        day = dt.date.fromisoformat(date) if date else business_date(hub.clock.now_ms(), zone)
    except ValueError:
        raise HTTPException(400, f"{date!r} is not a date (YYYY-MM-DD)") from None
    return branch, day, zone


def _report(request: Request, branch: str, day: dt.date, zone: str) -> dict[str, Any] | None:
    if not branch:
        return None
    with web(request).hub.engine.connect() as conn:
        try:
            return till.day_report(conn, branch, day, zone)
        except TapcardError as exc:
            raise HTTPException(404, str(exc)) from None


@router.get("/day", response_class=HTMLResponse)
def day_page(
    request: Request, user: User, branch: ShortQuery = "", date: ShortQuery = ""
) -> Response:
    branch, day, zone = _day(request, user, branch, date)
    with web(request).hub.engine.connect() as conn:
        branches = _branches(conn, user)
    report = _report(request, branch, day, zone)
    return render(
        request,
        "day.html",
        user,
        r=report,
        branch=branch,
        day=day,
        branches=branches,
        confirm=False,
        tender_names=TENDER_NAMES,
    )


@router.get("/day/close", response_class=HTMLResponse)
def day_confirm(
    request: Request, user: User, branch: ShortQuery = "", date: ShortQuery = ""
) -> Response:
    """The confirmation: the figures that will be signed, and who signs them."""
    require_write(user)
    branch, day, zone = _day(request, user, branch, date)
    report = _report(request, branch, day, zone)
    if report is None:
        raise HTTPException(400, "choose a branch")
    if report["closed"]:
        return done(f"/day?branch={branch}&date={day}", error="This day is closed already")
    return render(
        request,
        "day.html",
        user,
        r=report,
        branch=branch,
        day=day,
        branches=[],
        confirm=True,
        tender_names=TENDER_NAMES,
    )


@router.post("/day/close")
async def day_close(request: Request, user: User) -> Response:
    form = await form_for_change(request, user)
    branch, day, zone = _day(request, user, str(form.get("branch", "")), str(form.get("date", "")))
    if not branch:
        raise HTTPException(400, "choose a branch")
    hub = web(request).hub
    back = f"/day?branch={branch}&date={day}"
    try:
        with hub.transaction() as conn:
            if till.day_report(conn, branch, day, zone)["closed"]:  # an unknown branch: 404
                return done(back, error="This day is closed already")
            till.close_day(conn, branch, day, user.username, zone, hub.clock.now_ms(), user.actor)
    except TapcardError as exc:
        return done(back, error=str(exc))
    return done(back, msg="Day {day} at {branch} closed", day=day, branch=branch)
