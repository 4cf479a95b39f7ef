"""A member's profile at the counter, against a real hub and mosquitto (presenter).

Scenario: Ann opens Li Wei's profile: the form shows the current values. A phone typed
wrong and a birthday in the wrong format get their error beside the field and nothing
is sent; fixed, the counter shows what changes (the new ID number only as "a new one")
and sends it only after the confirmation; the hub books the change under Ann. A walk-in
registration with Li Wei's phone in another spelling makes no new member: the counter
says Li Wei is a member already and opens that member on request. In Chinese too.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from hub import db
from tapcard.ui.i18n import Translator
from terminal.presenters.views import ProfileView
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till

ID_NUMBER = "110101199003071234"


def _members(till: Till) -> int:
    with till.rig.seeded.hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.members)).scalar_one())


def _profile(till: Till) -> ProfileView:
    view = till.wait("profile")
    assert isinstance(view, ProfileView)
    return view


def test_edit_form_checks_fields_confirms_then_changes(till: Till) -> None:
    p = till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    li = till.rig.seeded.members[0]
    p.open_profile(li)
    form = _profile(till)
    values = dict(form.values)
    assert (values["name"], values["phone"], values["birthday"]) == ("Li Wei", "13800000001", "")
    assert p.profile_field_error("phone", "12ab") == "Phone must be 5-20 digits"
    assert p.profile_field_error("phone", "+86 138-0000-0001") == ""

    bad = p.check_profile({**values, "phone": "12ab", "birthday": "7/3/1990"})
    assert bad is not None and dict(bad.errors).keys() == {"phone", "birthday"}
    assert not bad.confirm and p.profiles.pending is None

    good = p.check_profile({**values, "address": "8 Bay Road"}, id_number=ID_NUMBER)
    assert good is not None and not good.errors
    assert good.confirm == ("Address: - -> 8 Bay Road", "ID number: - -> a new one")
    assert ID_NUMBER not in " ".join(good.confirm)
    p.confirm_edit()
    done = till.wait("receipt")
    assert done.title == "Profile changed" and done.lines == ("Address", "ID number")
    with till.rig.seeded.hub.engine.connect() as conn:
        row = conn.execute(
            sa.select(db.audit.c.actor, db.audit.c.detail).where(db.audit.c.action == "member.edit")
        ).one()
    assert row.actor.startswith("staff:ann@")
    assert json.loads(row.detail)["changes"]["id_number"]["new"] == "1101**********1234"


def test_a_known_phone_offers_the_member_instead(till: Till) -> None:
    p = till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    before = _members(till)
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x02")
    till.card_ready()
    p.register("Li Wei", "+86 138 0000 0001")
    shown = _profile(till)
    li = till.rig.seeded.members[0]
    assert shown.member_id == li
    assert shown.duplicate == (
        f"This phone is already member #{li} (L****i, *******0001): no new member is made."
    )
    assert _members(till) == before
    p.open_profile(shown.member_id)
    wait_until(lambda: not _profile(till).duplicate, what="the member opened")
    assert dict(_profile(till).values)["name"] == "Li Wei"
    p.desk.t = Translator("zh")
    p.register("Li Wei", "13800000001")
    wait_until(lambda: bool(_profile(till).duplicate), what="the duplicate in Chinese")
    assert _profile(till).duplicate.startswith(f"此手机号已经是会员 #{li}")
