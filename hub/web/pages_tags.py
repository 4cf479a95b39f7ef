"""Pages (issue 17): a member's tags added and removed from the member page, each after
a confirmation page naming the member and the tag, through hub/tags.py (one audit row
per change, actor `web:<username>`). A branch manager reaches only their branch's
members (hub.web.scoping), an auditor none (no changes).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub import tags
from hub.admin.members import member_view
from hub.web import auth
from hub.web.deps import form_for_change, page_user, require_branch, require_write, web
from hub.web.pages_fleet import done, render
from hub.web.scoping import MemberId
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]
# A little over the stored limit, so that hub/tags.py says what is wrong with a long tag.
TAG_CHARS_IN: Final = tags.TAG_CHARS_MAX * 2


class Change(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


def _member(request: Request, user: auth.User, member_id: int) -> dict[str, Any]:
    require_write(user)
    with web(request).hub.engine.connect() as conn:
        view = member_view(conn, member_id)
    require_branch(user, view["branch_id"])
    return view


@router.get("/members/{member_id}/tags/confirm", response_class=HTMLResponse)
def tag_confirm(
    request: Request,
    member_id: MemberId,
    user: User,
    tag: Annotated[str, Query(max_length=TAG_CHARS_IN)],
    change: Change = Change.ADD,
) -> Response:
    """Which tag goes on or off whom, before anything is written."""
    view = _member(request, user, member_id)
    try:
        text = tags.checked(tag)
    except TapcardError as exc:
        return done(f"/members/{member_id}", error="The tag was not changed: {why}", why=str(exc))
    if change is Change.REMOVE and text not in view["tags"]:
        raise HTTPException(404, f"member {member_id} has no tag {text!r}")
    return render(request, "member_tag.html", user, m=view, tag=text, change=change.value)


@router.post("/members/{member_id}/tags")
async def tag_change(request: Request, member_id: MemberId, user: User) -> Response:
    form = await form_for_change(request, user)
    _member(request, user, member_id)
    change = str(form.get("change", ""))
    if change not in tuple(Change):
        raise HTTPException(400, "change is add or remove")
    tag = str(form.get("tag", ""))[:TAG_CHARS_IN]
    apply = tags.add_tags if change == Change.ADD else tags.remove_tags
    try:
        with web(request).hub.transaction() as conn:
            changed = apply(conn, member_id, [tag], user.actor)
    except TapcardError as exc:
        return done(f"/members/{member_id}", error="The tag was not changed: {why}", why=str(exc))
    url = f"/members/{member_id}"
    if not changed:
        return done(url, msg="nothing changed: tag {tag}", tag=tag.strip())
    if change == Change.ADD:
        return done(url, msg="tag {tag} added to member #{id}", tag=changed[0], id=member_id)
    return done(url, msg="tag {tag} removed from member #{id}", tag=changed[0], id=member_id)
