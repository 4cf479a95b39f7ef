"""Pages: a member leaves (hub.stored_value.leave), after a page that shows the member
and the stored value that is refunded in cash or held as unclaimed.

The same function as `tapcard hub member leave`; the actor is `web:<username>`, CSRF
checked by `form_for_change`. A branch manager ends only their branch's members.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub.admin.members import member_view
from hub.stored_value import REFUND_TENDERS, leave, leave_preview
from hub.web import auth
from hub.web.deps import form_for_change, page_user, require_branch, web
from hub.web.pages_fleet import done, render
from hub.web.scoping import MemberId
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]
NO_REFUND = "none"  # the form's value for "hold the balance as unclaimed"
RefundChoice = Annotated[str, Query(pattern="^(cash|none)$")]


def _refund_of(value: object) -> str | None:
    text = str(value or NO_REFUND)
    if text == NO_REFUND:
        return None
    if text not in REFUND_TENDERS:
        raise HTTPException(400, "stored value is refunded in cash, or held (none)")
    return text


def _yuan(cents: int) -> str:
    return f"¥{cents // 100:,}.{cents % 100:02d}"  # never negative here: what moved


@router.get("/members/{member_id}/leave", response_class=HTMLResponse)
def leave_page(
    request: Request, member_id: MemberId, user: User, refund: RefundChoice = "cash"
) -> Response:
    """The confirmation: who leaves and what happens to their stored value."""
    if not user.can_write:
        raise HTTPException(403, "this user may not change anything")
    with web(request).hub.engine.connect() as conn:
        require_branch(user, member_view(conn, member_id)["branch_id"])
        preview = leave_preview(conn, member_id)
    return render(request, "member_leave.html", user, p=preview, refund=refund)


@router.post("/members/{member_id}/leave")
async def member_leave(request: Request, member_id: MemberId, user: User) -> Response:
    form = await form_for_change(request, user)
    hub = web(request).hub
    with hub.engine.connect() as conn:
        require_branch(user, member_view(conn, member_id)["branch_id"])
    refund = _refund_of(form.get("refund"))
    try:
        with hub.transaction() as conn:
            ended = leave(
                conn,
                member_id,
                refund=refund,
                reason=str(form.get("reason", "")),
                actor=user.actor,
                rules=hub.rules.latest(),
            )
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    what = (
        f"{_yuan(ended.refunded_cents)} refunded in cash"
        if refund
        else f"{_yuan(ended.unclaimed_cents)} held as unclaimed"
    )
    return done(f"/members/{member_id}", msg=f"member {member_id} left: {what}")
