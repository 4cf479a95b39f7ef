"""Members kept clean: a profile change is audited with old and new values (the ID
number only masked), and one phone or ID number is one member however it is spelled,
at registration and in a profile change, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub import admin, db
from hub.admin.profiles import audited
from hub.privacy_keys import phone_index
from tapcard.domain.profile import phone_key
from tapcard.errors import ValidationError
from tests.conftest import Seeded

ID_NUMBER = "110101199003071234"


def _register(s: Seeded, name: str, phone: str, id_number: str = "") -> int:
    hub = s.hub
    new = admin.NewMember(name=name, phone=phone, id_number=id_number, branch_id="shop-1")
    with hub.transaction() as conn:
        return admin.add_member(
            conn, new, hub.rules.latest(), hub.secrets.id_number_hash(id_number), "test"
        )


def _edit(s: Seeded, member_id: int, **fields: str) -> dict[str, dict[str, str]]:
    with s.hub.transaction() as conn:
        return admin.edit_member(
            conn, member_id, admin.ProfileChange(**fields), s.hub.secrets.id_number_hash, "hq:ana"
        )


def _audits(s: Seeded, action: str) -> list[dict[str, object]]:
    with s.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.audit.c.detail).where(db.audit.c.action == action).order_by(db.audit.c.id)
        ).scalars()
        return [json.loads(row) for row in rows]


@pytest.mark.parametrize(
    "spelling", ["+86 138-0000-0001", "0086 13800000001", "8613800000001", "138 0000 0001"]
)
def test_phone_spellings_are_one_key(spelling: str) -> None:
    assert phone_key(spelling) == "13800000001"
    assert phone_key("+44 20 7946 0958") == "+442079460958"


def test_edit_is_audited_with_old_and_new_and_the_id_masked(seeded: Seeded) -> None:
    member = seeded.members[0]
    shown = _edit(
        seeded,
        member,
        name="Li Wei Jr",
        address="1 Long Road",
        birthday="1990-03-07",
        id_number=ID_NUMBER,
    )
    assert shown["name"] == {"old": "Li Wei", "new": "Li Wei Jr"}
    assert shown["id_number"] == {"old": "", "new": "1101**********1234"}
    assert shown["birthday"] == {"old": "", "new": "1990-03-07"}
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, member)
    assert (view["name"], view["address"], view["id_number_masked"]) == (
        "Li Wei Jr",
        "1 Long Road",
        "1101**********1234",
    )
    [detail] = _audits(seeded, "member.edit")
    assert detail == {"changes": audited(shown)}  # name, phone masked
    assert audited(shown)["name"] == {"old": "L****i", "new": "L*******r"}
    assert "Long Road" not in json.dumps(detail)
    assert ID_NUMBER not in json.dumps(_audits(seeded, "member.edit"))
    assert _edit(seeded, member, name="Li Wei Jr") == {}  # unchanged: no audit row
    assert len(_audits(seeded, "member.edit")) == 1


def test_bad_fields_are_refused_and_change_nothing(seeded: Seeded) -> None:
    member = seeded.members[0]
    for fields in (
        {"phone": "12ab"},
        {"birthday": "07/03/1990"},
        {"id_number": "123"},
        {"name": " "},
        {"birthday": "2999-01-01"},
    ):
        with pytest.raises(ValidationError):
            _edit(seeded, member, **fields)
    with seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, member)["name"] == "Li Wei"
    assert _audits(seeded, "member.edit") == []


def test_the_same_phone_in_another_spelling_finds_the_member(seeded: Seeded) -> None:
    first = seeded.members[0]  # 13800000001
    for spelling in ("+86 138-0000-0001", "0086 138 0000 0001"):
        with pytest.raises(admin.DuplicateMemberError) as found:
            _register(seeded, "Li Wei again", spelling)
        assert found.value.member_id == first and found.value.field == "phone"
        assert "Li Wei" not in str(found.value) and "0001" in str(found.value)
    with seeded.hub.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(db.members)).scalar_one()
    assert count == 2  # no new member, so no second new-member discount


def test_the_same_id_number_cannot_register_twice(seeded: Seeded) -> None:
    first = _register(seeded, "Zhang San", "13900000003", ID_NUMBER)
    with pytest.raises(admin.DuplicateMemberError) as found:
        _register(seeded, "Zhang S.", "13900000004", " " + ID_NUMBER.lower() + " ")
    assert (found.value.member_id, found.value.field) == (first, "id_number")


def test_an_edit_cannot_take_another_members_phone_or_id(seeded: Seeded) -> None:
    a, b = seeded.members
    _edit(seeded, a, id_number=ID_NUMBER)
    with pytest.raises(admin.DuplicateMemberError):
        _edit(seeded, b, phone="+86 13800000001")
    with pytest.raises(admin.DuplicateMemberError):
        _edit(seeded, b, id_number=ID_NUMBER)
    assert _edit(seeded, a, phone="138-0000-0001")["phone"]["new"] == "138-0000-0001"
    taken = (
        db.members.update().where(db.members.c.id == b).values(phone_key=phone_index("13800000001"))
    )
    with pytest.raises(sa.exc.IntegrityError), seeded.hub.transaction() as conn:
        conn.execute(taken)  # the unique index holds as well
