"""Pages: a member's profile change (the form on the member page) and the merge of two
members who are the same person (HQ only, after a page that shows both and what moves).

Both go through hub.admin (`edit_member`, `merge_members`), as the CLI and the counter
do; the actor is `web:<username>`, CSRF checked by `form_for_change`. A branch manager
edits only their branch's members; merging is for HQ admins, who see every branch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub.admin.members import member_view
from hub.admin.merge import merge_members, merge_preview
from hub.admin.profiles import FIELDS, ProfileChange, edit_member
from hub.web import auth
from hub.web.deps import form_for_change, page_user, require_branch, web
from hub.web.pages_fleet import done, render
from hub.web.scoping import MemberId
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]


def _field(form: dict[str, Any], name: str) -> str | None:
    """A field as typed; the ID number box is empty unless a new one is typed."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    if name == "id_number" and not value.strip() and form.get("id_number_clear") != "1":
        return None
    return value


@router.post("/members/{member_id}/edit")
async def member_edit(request: Request, member_id: MemberId, user: User) -> Response:
    form = await form_for_change(request, user)
    hub = web(request).hub
    with hub.engine.connect() as conn:
        require_branch(user, member_view(conn, member_id)["branch_id"])
    change = ProfileChange(**{name: _field(form, name) for name in FIELDS})
    try:
        with hub.transaction() as conn:
            shown = edit_member(conn, member_id, change, hub.secrets.id_number_hash, user.actor)
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    changed = ", ".join(sorted(shown)) or "nothing"
    return done(f"/members/{member_id}", msg=f"profile changed: {changed}")


def _require_hq(user: auth.User) -> None:
    if not user.can_write or user.branch_scope is not None:
        raise HTTPException(403, "merging members is for HQ")


@router.get("/members/{member_id}/merge", response_class=HTMLResponse)
def merge_page(
    request: Request,
    member_id: MemberId,
    user: User,
    into: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> Response:
    """The confirmation: both members side by side and what would move."""
    _require_hq(user)
    try:
        with web(request).hub.engine.connect() as conn:
            preview = merge_preview(conn, member_id, into)
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    return render(request, "member_merge.html", user, p=preview)


@router.post("/members/{member_id}/merge")
async def merge(request: Request, member_id: MemberId, user: User) -> Response:
    form = await form_for_change(request, user)
    _require_hq(user)
    hub = web(request).hub
    try:
        into = int(str(form.get("into", "")))
    except ValueError:
        raise HTTPException(400, "into is a member number") from None
    try:
        with hub.transaction() as conn:
            summary = merge_members(
                conn, member_id, into, str(form.get("reason", "")), user.actor, hub.rules.latest()
            )
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    return done(
        f"/members/{into}", msg=f"member {member_id} merged into {into} ({summary['tx_id']})"
    )
