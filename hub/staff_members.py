"""The counter's member requests beside hub/staff.py: a member's profile for the edit
form, the change itself (through `hub.admin.edit_member`, as the dashboard and the CLI
do), a member's tags (MemberTag), and the answer when a phone or ID number is already a
member's.

A terminal reaches the members of its own branch only, as its search does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from hub import admin, tags
from hub.app import Hub
from tapcard.errors import NotFoundError
from tapcard.wire import staff_messages as sm

DUPLICATE_ERROR = "duplicate"


def answer(
    hub: Hub, conn: Connection, op: sm.AnyStaffOp, branch: str, actor: str
) -> dict[str, Any]:
    """The reply fields of a ShowProfile or EditMember."""
    if isinstance(op, sm.EditMember):
        change = admin.ProfileChange(
            name=op.name,
            phone=op.phone,
            address=op.address,
            birthday=op.birthday,
            id_number=op.id_number,
        )
        shown = admin.edit_member(
            conn, op.member_id, change, hub.secrets.id_number_hash, actor, branch=branch
        )
        return {"profile": profile(conn, op.member_id, branch), "changed": sorted(shown)}
    assert isinstance(op, sm.ShowProfile)
    return {"profile": profile(conn, op.member_id, branch)}


def member_tag(conn: Connection, op: sm.MemberTag, branch: str, actor: str) -> dict[str, Any]:
    """A tag added or taken off a member of the branch (audited by hub/tags.py); the
    member's tags after it. Adding a tag the member has, or removing one they lack,
    changes nothing and is answered the same."""
    member_id = int(admin.require_card(conn, op.card_id).member_id)
    profile(conn, member_id, branch)  # a member of this branch, else not_found
    change = tags.remove_tags if op.remove else tags.add_tags
    change(conn, member_id, [op.tag], actor)
    return {"member_id": member_id, "tags": tags.tags_of(conn, member_id)}


def profile(conn: Connection, member_id: int, branch: str) -> sm.MemberProfile:
    row = admin.require_member(conn, member_id)
    if row.branch_id != branch:
        raise NotFoundError(f"member {member_id} is not a member of branch {branch}")
    return sm.MemberProfile(
        member_id=int(row.id),
        name=str(row.name)[:200],
        phone=str(row.phone)[:64],
        address=str(row.address)[:500],
        birthday=row.birthday,
        id_number_masked=str(row.id_number_masked)[:64],
    )


def duplicate(exc: admin.DuplicateMemberError) -> dict[str, Any]:
    """A registration or edit refused because the person is a member already: who,
    masked, so the counter can open that member instead."""
    row = sm.MemberRow(
        member_id=exc.member_id, name=exc.name[:200], phone=exc.phone[:64], tier="", state=""
    )
    return {
        "error": DUPLICATE_ERROR,
        "message": str(exc)[:500],
        "member_id": exc.member_id,
        "members": [row],
        "changed": [exc.field],
    }
