"""Manager-only work, fees and staff cards at a counter terminal, against a real hub and
mosquitto (presenter, and the real window for the new buttons).

Scenario: a manager rings up a sale, then reverses its points from the reversal screen
(the last receipt's reference filled in) with a reason; the hub books the reversal under
`staff:ann@till-1`. A cashier trying the same, or a fee waiver, is refused by the hub with
"A manager must do this". A manager renews a card with the annual fee waived: the card is
extended, no fee is booked and the waiver is audited; the same for a replacement. New
members pay the rules' joining fee in cash (a fee transfer at the hub) unless a manager
waives it. A staff card (`S-ann`, signed by the hub for the chip's UID) logs Ann in
instead of her PIN, online and then, with the broker gone, from the cached login of that
same chip; another chip with a valid credential is refused offline. The sale and
backfill pickers show the categories in Chinese.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from nacl.signing import SigningKey

from hub import db
from hub.privacy_keys import phone_index
from hub.staff import staff_card_credential
from tapcard.domain.model import Payment
from tapcard.readers.sim import SimCard, make_sim_card
from tests import kivy_env
from tests.clock import pinned_today
from tests.device.conftest import wait_until
from tests.terminal.conftest import MASTER, PIN, Till
from tests.terminal.test_terminal_window import _both, _press


def _login(till: Till, staff: str = "ann") -> None:
    till.presenter.login(staff, PIN)
    till.wait("home", "login")


def _relogin(till: Till, staff: str) -> None:
    till.presenter.lock()
    _login(till, staff)


def _rows(till: Till, table: sa.Table, **where: object) -> list[Any]:
    query = sa.select(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with till.rig.seeded.hub.engine.connect() as conn:
        return list(conn.execute(query).all())


def _fee_legs(till: Till, kind: str) -> int:
    """Cents credited to the fees account by transfers of this kind."""
    t, legs = db.transfers, db.legs
    query = (
        sa.select(sa.func.coalesce(sa.func.sum(legs.c.credit), 0))
        .select_from(legs.join(t, t.c.tx_id == legs.c.tx_id))
        .where(t.c.kind == kind, legs.c.account == "s:fees")
    )
    with till.rig.seeded.hub.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_manager_reverses_a_sales_points_and_a_cashier_may_not(till: Till) -> None:
    _login(till)
    p = till.presenter
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    before = till.rig.balances(0)["points"]
    p.sale()
    p.add_line("grocery", "120")
    p.pay(Payment.CASH)
    till.confirm()
    receipt = till.wait("receipt")
    earned = till.rig.balances(0)["points"] - before
    assert earned > 0 and f"Points earned: {earned}" in receipt.lines

    _relogin(till, "bob")
    form = p.reversal_form()
    assert form is not None and not form.manager and "A manager must do this" in form.lines
    p.reverse(form.ref, "cashier tries")
    assert till.wait("message").title == "A manager must do this"
    assert till.rig.balances(0)["points"] == before + earned

    _relogin(till, "ann")
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    form = p.reversal_form()
    assert form is not None and form.manager
    assert form.ref.startswith(f"{receipt_seq(receipt)}/")
    p.reverse(form.ref, "receipt was a duplicate")
    done = till.wait("receipt")
    assert done.title == "Points reversed"
    assert f"Points taken back: {earned}" in done.lines
    assert till.rig.balances(0)["points"] == before
    reversal = _rows(till, db.transfers, kind="reversal")
    assert len(reversal) == 1 and reversal[0].actor == "staff:ann@till-1"
    assert reversal[0].reason == "receipt was a duplicate"
    p.reverse(form.ref, "again")  # the hub refuses a second reversal
    assert till.wait("message").title == "Not possible in the card's state"
    assert p.shift_summary().lines.count("Reversal: 1") == 1


def receipt_seq(view: Any) -> str:
    ref = next(line for line in view.lines if line.startswith("Reference: "))
    return ref.split(": ", 1)[1].split("/")[0]


def test_renewal_and_replacement_fee_waived_by_a_manager_only(till: Till) -> None:
    card_id = till.rig.seeded.cards[0]
    _login(till, "bob")
    p = till.presenter
    till.tap(card_id)
    till.card_ready()
    view = p.renewal()
    assert view is not None and not view.can_waive
    p.renew_waived()
    assert till.wait("message").title == "A manager must do this"

    _relogin(till, "ann")
    till.tap(card_id)
    till.card_ready()
    (old,) = _rows(till, db.cards, id=card_id)
    view = p.renewal()
    assert view is not None and view.can_waive
    p.renew_waived()
    done = till.wait("receipt")
    assert done.title == "Renewal" and "Fee waived" in done.lines
    (card,) = _rows(till, db.cards, id=card_id)
    assert card.expires_on > old.expires_on
    assert _fee_legs(till, "renewal") == 0
    waived = _rows(till, db.audit, action="fee.waive")
    assert [(a.actor, a.target) for a in waived] == [("staff:ann@till-1", card_id)]
    assert json.loads(waived[0].detail) == {"fee": "annual", "cents": 5_000}

    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x21")
    till.card_ready()
    p.replace(card_id, waive_fee=True)
    done = till.wait("message")
    assert "is ready" in done.title and "Fee waived" in done.detail
    assert _fee_legs(till, "replacement") == 0
    assert len(_rows(till, db.audit, action="fee.waive")) == 2
    summary = p.shift_summary()
    assert "Fees waived: 2" in summary.lines


def test_joining_fee_paid_cash_or_waived_by_a_manager(till: Till) -> None:
    p = till.presenter
    _login(till, "bob")
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x31")
    till.card_ready()
    p.register("Li Si", "13900000031", waive_fee=True)
    assert till.wait("message").title == "A manager must do this"
    assert not _rows(till, db.members, phone_index=phone_index("13900000031"))
    p.home()
    p.register("Li Si", "13900000031")
    done = till.wait("message")
    assert "is ready" in done.title and "Fee paid in cash: ¥20.00" in done.detail
    (member,) = _rows(till, db.members, phone_index=phone_index("13900000031"))
    (fee,) = _rows(till, db.transfers, kind="fee", member_id=member.id)
    assert fee.actor == "staff:bob@till-1" and json.loads(fee.detail)["fee"] == "joining"
    assert _fee_legs(till, "fee") == 2_000
    assert p.shift.cents["fee_cash"] == 2_000

    _relogin(till, "ann")
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x32")
    till.card_ready()
    p.register("Wang Wu", "13900000032", waive_fee=True)
    done = till.wait("message")
    assert "is ready" in done.title and "Fee waived" in done.detail
    (member,) = _rows(till, db.members, phone_index=phone_index("13900000032"))
    assert not _rows(till, db.transfers, kind="fee", member_id=member.id)
    assert _fee_legs(till, "fee") == 2_000
    (waived,) = _rows(till, db.audit, action="fee.waive")
    assert waived.target == str(member.id) and waived.actor == "staff:ann@till-1"


def _staff_card(till: Till, staff_id: str, uid: bytes) -> SimCard:
    hub = till.rig.seeded.hub
    key = make_sim_card(hub.secrets.issuer_key, MASTER, f"S-{staff_id}", uid, pinned_today())
    card_key = key.card_seed
    assert card_key is not None
    public = bytes(SigningKey(card_key).verify_key).hex()
    with hub.transaction() as conn:
        credential = staff_card_credential(
            conn, hub.secrets.issuer_key, staff_id, uid.hex(), public, "test"
        )
    return SimCard(uid, bytes.fromhex(credential), card_key)


def test_staff_card_login_online_then_offline_from_the_cache(till: Till) -> None:
    p = till.presenter
    card = _staff_card(till, "ann", b"\x04\x5a\x00\x00\x00\x00\x01")
    till.swap()
    till.reader.tap(card)
    till.wait("home", "card login")
    assert p.staff is not None and p.staff.staff_id == "ann" and not p.staff.offline
    assert p.card is None  # a staff card is not a member's card
    assert len(_rows(till, db.audit, action="staff.card_login")) == 1
    p.lock()
    other = _staff_card(till, "ann", b"\x04\x5a\x00\x00\x00\x00\x02")

    till.rig.broker.stop()
    try:
        wait_until(lambda: not till.runtime.link.connected, what="offline")
        till.swap()
        till.reader.tap(other)  # valid, but never confirmed by the hub
        wait_until(lambda: "not been checked" in p.view.message, what="refused offline")
        assert p.staff is None
        till.swap()
        till.reader.tap(card)
        till.wait("home", "offline card login")
        assert p.staff is not None and p.staff.offline and p.staff.role == "manager"
    finally:
        till.rig.broker.start()
    wait_until(lambda: till.runtime.link.connected, what="online again")


def test_categories_translated_on_the_pickers(till: Till) -> None:
    p = till.presenter
    _login(till)
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    p.set_language("zh")
    labels = p.category_labels()
    assert labels[:3] == ["百货", "加油", "洗车"]
    p.sale()
    p.add_line("加油", "50")
    assert p.lines[-1].category == "fuel"
    view = p.check_backfill("R-77", pinned_today().isoformat(), "百货", "10")
    assert view is not None and view.can_submit


def test_manager_buttons_and_translated_picker_on_the_window(window_app: Any) -> None:
    app, _reader, _rig = window_app
    p = app.presenter
    login = app.screen("login")
    login.ids.staff.text, login.ids.pin.text = "ann", PIN
    _press(login.ids.go)
    kivy_env.pump(lambda: p.screen == "home")
    home = app.screen("home")
    assert not home.ids.reverse.disabled and not home.ids.waive.disabled
    _press(home.ids.reverse)
    kivy_env.pump(lambda: p.screen == "reversal")
    screen = app.screen("reversal")
    assert not screen.ids.go.disabled
    _both(app, "reversal")
    screen.ids.ref.text, screen.ids.reason.text = "1/00000000", "typo"
    _press(screen.ids.go)
    kivy_env.pump(lambda: p.screen == "confirm")  # what is reversed and why, first
    assert "1/00000000" in app.screen("confirm").body
    kivy_env.pump()
    _press(app.screen("confirm").ids.go)
    kivy_env.pump(lambda: p.screen == "message")
    assert app.screen("message").title == app.t("Not found")
    p.set_language("zh")
    p.sale()
    kivy_env.pump(lambda: p.screen == "sale")
    sale = app.screen("sale")
    assert sale.ids.category.text == "百货" and "加油" in sale.ids.category.values
    p.set_language("en")
    kivy_env.pump()
    assert sale.ids.category.values[0] == "Grocery"  # a code never shows as itself
