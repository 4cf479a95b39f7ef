"""Pages (PIPL): the data-access log, who read whose profile, filtered by user, member
and date (HQ admins and auditors only); and closing a member's account, which
anonymises the person (hub/privacy_close.py) after a page that says what goes.

The same functions as `tapcard hub member access-log | close`; the actor is
`web:<username>`, CSRF checked by `form_for_change`. Closing is HQ's: a branch manager
may end a membership (pages_leave.py) but not erase a person.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub import privacy
from hub.admin.members import member_view
from hub.privacy_close import closable, close_account
from hub.web import auth, i18n
from hub.web.deps import form_for_change, page_user, parse_date, web
from hub.web.pages_fleet import done, render
from hub.web.scoping import MemberId
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]
FILTER_CHARS_MAX: Final = 128
ACCESS_PAGE_ROWS: Final = 200
# The log's codes in words (translated in dashboard.po).
ACTIONS: Final = {
    "view": "member page viewed",
    "show": "member shown (command line)",
    "data-export": "member data exported",
}
VIAS: Final = {"web": "dashboard", "cli": "command line"}


def _hq(user: auth.User, write: bool = False) -> None:
    if user.branch_scope is not None or (write and not user.can_write):
        raise HTTPException(403, "this page is for HQ")


def _day_ms(day: dt.date, zone: dt.tzinfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp() * 1000)


@router.get("/privacy/access", response_class=HTMLResponse)
def access_page(
    request: Request,
    user: User,
    actor: Annotated[str, Query(max_length=FILTER_CHARS_MAX)] = "",
    member: Annotated[str, Query(max_length=12, pattern=r"^\d*$")] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    _hq(user)
    zone = i18n.business_zone(request)
    first, last = parse_date(since), parse_date(until)
    where = privacy.AccessFilter(
        actor=actor.strip(),
        member_id=int(member) if member else None,
        since_ms=_day_ms(first, zone) if first else None,
        until_ms=_day_ms(last + dt.timedelta(days=1), zone) if last else None,
    )
    with web(request).hub.engine.connect() as conn:
        entries = privacy.access_entries(conn, where, ACCESS_PAGE_ROWS)
    f = {"actor": actor, "member": member, "since": since, "until": until}
    return render(
        request, "privacy_access.html", user, entries=entries, f=f, actions=ACTIONS, vias=VIAS
    )


@router.get("/members/{member_id}/close", response_class=HTMLResponse)
def close_page(request: Request, member_id: MemberId, user: User) -> Response:
    """The confirmation: who is anonymised, or why not yet (stored value held)."""
    _hq(user, write=True)
    with web(request).hub.engine.connect() as conn:
        view = member_view(conn, member_id)
        try:
            rows, refused = closable(conn, member_id), ""
        except TapcardError as exc:
            rows, refused = (), str(exc)
    return render(request, "member_close.html", user, m=view, rows=rows, refused=refused)


@router.post("/members/{member_id}/close")
async def member_close(request: Request, member_id: MemberId, user: User) -> Response:
    _hq(user, write=True)
    form = await form_for_change(request, user)
    hub = web(request).hub
    try:
        with hub.transaction() as conn:
            close_account(
                conn, member_id, hub.rules.latest(), user.actor, str(form.get("reason", ""))
            )
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    return done(f"/members/{member_id}", msg=f"member {member_id} closed and anonymised")
