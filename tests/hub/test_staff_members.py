"""The counter's member requests, answered by the hub on SQLite and PostgreSQL: the
profile for the edit form, the edit itself (audited under the staff id), and a
registration or edit with a phone that is already a member's, which names that member
(masked) instead of making a second one."""

from __future__ import annotations

import json

import sqlalchemy as sa

from hub import db, staff
from tapcard.wire import staff_messages as sm
from tests.conftest import Seeded
from tests.hub.support import staff_on_duty

UID = "04a1b2c3d4e5f6"


def _ask(s: Seeded, op: sm.AnyStaffOp) -> sm.StaffReply:
    badge = staff_on_duty(s.hub, s.device_id, "ann")
    request = sm.StaffRequest(device=s.device_id, staff="ann", session=badge.session, op=op)
    return staff.handle(s.hub, request, "shop-1")


def test_profile_and_edit_from_the_counter(seeded: Seeded) -> None:
    member = seeded.members[0]
    shown = _ask(seeded, sm.ShowProfile(member_id=member))
    assert shown.error == "" and shown.profile is not None
    assert (shown.profile.name, shown.profile.phone) == ("Li Wei", "13800000001")
    edit = sm.EditMember(member_id=member, address="8 Bay Road", id_number="110101199003071234")
    edited = _ask(seeded, edit)
    assert edited.error == "", edited.message
    assert edited.changed == ["address", "id_number"]
    assert edited.profile is not None and edited.profile.id_number_masked == "1101**********1234"
    with seeded.hub.engine.connect() as conn:
        row = conn.execute(
            sa.select(db.audit.c.actor, db.audit.c.detail).where(db.audit.c.action == "member.edit")
        ).one()
    assert row.actor == f"staff:ann@{seeded.device_id}"
    assert "199003071234" not in row.detail
    # The audit trail keeps no address in clear (it is sealed in the members row).
    assert json.loads(row.detail)["changes"]["address"] == {"old": "", "new": "***"}
    bad = _ask(seeded, sm.EditMember(member_id=member, birthday="1990-02-30"))
    assert bad.error == "invalid" and "YYYY-MM-DD" in bad.message


def test_a_known_phone_names_the_member_instead(seeded: Seeded) -> None:
    first, second = seeded.members
    op = sm.RegisterMember(name="Li Wei", phone="+86 138-0000-0001", uid=UID)
    reply = _ask(seeded, op)
    assert (reply.error, reply.member_id, reply.changed) == ("duplicate", first, ["phone"])
    assert [(r.member_id, r.name, r.phone) for r in reply.members] == [
        (first, "L****i", "*******0001")
    ]
    with seeded.hub.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(db.members)).scalar_one()
    assert count == 2
    taken = _ask(seeded, sm.EditMember(member_id=second, phone="0086 13800000001"))
    assert (taken.error, taken.member_id) == ("duplicate", first)


def test_a_member_of_another_branch_is_out_of_reach(seeded: Seeded) -> None:
    with seeded.hub.transaction() as conn:
        conn.execute(
            db.members.update().where(db.members.c.id == seeded.members[1]).values(branch_id=None)
        )
    assert _ask(seeded, sm.ShowProfile(member_id=seeded.members[1])).error == "not_found"
    edit = sm.EditMember(member_id=seeded.members[1], name="Someone Else")
    assert _ask(seeded, edit).error == "not_found"
