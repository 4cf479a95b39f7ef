"""Registering a walk-in at the counter, against a real hub and mosquitto (presenter).

Scenario: Ann opens the registration form. A phone typed wrong, a short ID number and a
birthday in the future get their error as typed and nothing is sent; with no blank
card on the reader the form says so. Fixed, the confirmation shows the name, the phone
and ID number masked, and the joining fee in yuan (in Chinese too); confirmed, the card
is issued, the fee booked, the form empty again. The same ID number again makes no new
member: the counter names the member it belongs to. When the rules offer joining by
spend, choosing it shows the threshold and its window (in Chinese too) and books no
fee; a lock forgets what was typed.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from hub import db
from hub.privacy_keys import phone_index
from hub.rulestore import store_rules
from tapcard.ui.i18n import Translator
from terminal.presenters.views import MessageView, ProfileView, RegisterView
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till

ID_NUMBER = "110101199003071234"
# The Chinese texts as the catalog spells them, with full-width punctuation.
ZH_FEE = "入会费\uff1a¥20.00\uff0c现金支付"
ZH_SPEND = "消费满 ¥100.00\uff0830 天内\uff09成为会员"
GOOD = {"name": "Qian Qi", "phone": "13900000099", "birthday": "1990-03-07"}


def _form(till: Till) -> RegisterView:
    view = till.wait("register")
    assert isinstance(view, RegisterView)
    return view


def _issued(till: Till) -> MessageView:
    view = till.wait("message", "card issued")
    assert isinstance(view, MessageView) and "is ready" in view.title, view
    return view


def _fees(till: Till) -> int:
    with till.rig.seeded.hub.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(db.transfers.c.kind == "fee")
        return int(conn.execute(query.select_from(db.transfers)).scalar_one())


def test_the_form_checks_fields_confirms_the_fee_then_registers(till: Till) -> None:
    p = till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    p.registration_form()
    form = _form(till)
    assert (form.can_by_spend, form.by_spend, form.can_waive) == (False, False, True)
    assert form.terms == "Joining fee: ¥20.00, paid in cash"
    assert p.registration_field_error("phone", "12ab") == "Phone must be 5-20 digits"
    assert p.registration_field_error("id_number", "12345") == "ID number must be 6-32 characters"
    assert p.registration_field_error("id_number", "") == ""
    assert p.registration_field_error("birthday", "2999-01-01") == "Birthday is in the future"
    assert p.registration_field_error("birthday", "7/3/1990") == "Birthday is YYYY-MM-DD"

    bad = p.check_registration({**GOOD, "phone": "12ab", "birthday": "7/3/1990"}, "12345")
    assert bad is not None and not bad.confirm
    assert [f for f, _ in bad.errors] == ["phone", "birthday", "id_number", ""]
    assert bad.errors[-1][1] == "Put a blank card on the reader"
    assert p.registrations.pending is None

    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x11")
    till.card_ready()
    good = p.check_registration(GOOD, ID_NUMBER)
    assert good is not None and not good.errors
    assert good.confirm == (
        "Name: Qian Qi",
        "Phone: *******0099",
        "ID number: 1101**********1234",
        "Birthday: 1990-03-07",
        "Joining fee: ¥20.00, paid in cash",
    )
    p.set_language("zh")
    zh = _form(till)
    assert zh.confirm[0] == "姓名: Qian Qi" and zh.confirm[-1] == ZH_FEE
    assert ID_NUMBER not in " ".join(zh.confirm)
    p.set_language("en")

    fees = _fees(till)
    p.confirm_registration()
    done = _issued(till)
    assert "Fee paid in cash: ¥20.00" in done.detail
    assert _fees(till) == fees + 1
    with till.rig.seeded.hub.engine.connect() as conn:
        row = conn.execute(
            sa.select(db.members).where(db.members.c.phone_index == phone_index(GOOD["phone"]))
        ).one()
    assert (row.name, row.id_number_masked, str(row.birthday)) == (
        "Qian Qi",
        "1101**********1234",
        "1990-03-07",
    )
    p.registration_form()
    assert all(value == "" for _, value in _form(till).values)

    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x12")
    till.card_ready()
    again = p.check_registration({"name": "Qian Q.", "phone": "13900000098"}, ID_NUMBER)
    assert again is not None and again.confirm
    p.confirm_registration()
    shown = till.wait("profile", "the duplicate")
    assert isinstance(shown, ProfileView) and shown.member_id == row.id
    assert shown.duplicate == (
        f"This ID number is already member #{row.id} (Q*****i, *******0099): no new member is made."
    )
    assert _fees(till) == fees + 1


def test_joining_by_spend_shows_the_threshold_and_books_no_fee(till: Till) -> None:
    hub = till.rig.seeded.hub
    sample = hub.rules.latest()
    joining = dataclasses.replace(
        sample, version=sample.version + 1, join_spend_cents=10_000, join_spend_days=30
    )
    with hub.transaction() as conn:
        store_rules(conn, joining, "test")
    wait_until(lambda: till.runtime.rules_version == joining.version, what="the rules")
    p = till.presenter
    p.login("bob", PIN)
    till.wait("home", "login")
    p.registration_form()
    assert _form(till).can_by_spend and not _form(till).can_waive  # bob is a cashier
    p.choose_joining(True, waive_fee=True)
    chosen = _form(till)
    assert chosen.by_spend and not chosen.waive_fee
    assert chosen.terms == "Member once ¥100.00 is spent (within 30 days)"
    p.desk.t = Translator("zh")
    p.choose_joining(True)
    assert _form(till).terms == ZH_SPEND
    p.desk.t = Translator("en")

    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x13")
    till.card_ready()
    confirm = p.check_registration({"name": "Sun Ba", "phone": "13900000066"})
    assert confirm is not None
    assert confirm.confirm[-1] == "Member once ¥100.00 is spent (within 30 days)"
    fees = _fees(till)
    p.confirm_registration()
    done = _issued(till)
    assert "Joining by spend until " in done.detail and "Fee paid" not in done.detail
    assert _fees(till) == fees
    with hub.engine.connect() as conn:
        state = conn.execute(
            sa.select(db.join_by_spend.c.state).join(
                db.cards, db.cards.c.id == db.join_by_spend.c.card_id
            )
        ).scalar_one()
    assert state == "provisional"

    p.registration_form()
    p.check_registration({"name": "Zhou Jiu", "phone": "139"}, ID_NUMBER)
    assert p.registrations.values["name"] == "Zhou Jiu"
    p.lock()
    assert p.registrations.values == {} and p.registrations.pending is None
    assert not p.registrations.by_spend
