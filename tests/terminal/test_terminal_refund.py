"""Refunds at the counter, through the terminal's presenter (no window) against a real
hub and mosquitto, and the refund screen on the real offscreen Kivy window.

Scenario: a cashier sells three grocery items and a fuel line paid from stored value.
From the last receipt's reference the refund screen looks the sale up at the hub: the
member (masked), the lines and what is still refundable. She gives one grocery item
back with a reason; the confirmation shows the member, the card, the line, the money
back to stored value and the points taken back before anything is sent. The hub books
it: the card's stored value goes up by the refund, the receipt carries the refund's own
reference, the fields are empty again, and a second lookup shows the line refunded once.
Offline the lookup cannot be made and the screen says so; locking forgets the draft.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub import db
from tapcard.domain.model import Asset, Payment
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from terminal.presenters.refund import OFFLINE_LOOKUP, Draft, reckon
from tests import kivy_env
from tests.conftest import credit
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till
from tests.terminal.test_terminal_window import _both, _press


def _sale(kind: str = "purchase", lines: tuple[tuple[int, int, int], ...] = ()) -> sm.SaleView:
    return sm.SaleView(
        tx_id="0" * 36,
        kind=kind,
        card_id="C-1",
        member_id=1,
        member_name_masked="L* Wei",
        created_ms=0,
        payment="cash",
        net_cents=9_000,
        points_earned=90,
        refundable=True,
        lines=[
            sm.SaleLineView(
                line_no=i, category="grocery", unit_price_cents=p, quantity=q, refunded=r
            )
            for i, (p, q, r) in enumerate(lines)
        ],
    )


def test_reckoning_is_pro_rata_and_exact_only_for_the_whole_sale() -> None:
    sale = _sale(lines=((4_000, 2, 0), (2_000, 1, 0)))  # ¥100 gross, ¥90 paid
    assert reckon(sale, {0: 1}) == reckon(sale, {0: 1, 1: 0})
    part = reckon(sale, {0: 1})
    assert (part.cents, part.points, part.exact) == (3_600, 36, False)
    whole = reckon(sale, {0: 2, 1: 1})
    assert (whole.cents, whole.points, whole.exact) == (9_000, 90, True)
    redemption = reckon(_sale(kind="redeem"), {})
    assert (redemption.cents, redemption.points, redemption.exact) == (0, 90, True)
    draft = Draft(ref="1/abc", reason="x", sale=sale, picked={0: 1}, note="n", sending=True)
    draft.clear()
    assert draft == Draft()


def _login(till: Till, staff: str = "bob") -> None:
    till.presenter.login(staff, PIN)
    till.wait("home", "login")


def _sell(till: Till) -> Any:
    p = till.presenter
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    p.top_up("300")
    till.wait("receipt", "top-up")
    wait_until(
        lambda: p.card.snapshot.balances.stored_value_cents == 30_000, what="the top-up seen"
    )
    p.sale()
    p.add_line("grocery", "40", 3)
    p.add_line("fuel", "100")
    p.pay(Payment.STORED_VALUE)
    till.confirm()
    return till.wait("receipt", "sale")


def _looked_up(till: Till) -> Any:
    wait_until(
        lambda: till.presenter.screen == "refund" and bool(till.presenter.view.rows),
        what="the sale looked up",
    )
    return till.presenter.view


def test_refund_one_line_through_lookup_pick_confirm(till: Till) -> None:
    p, rig = till.presenter, till.rig
    _login(till)
    sold = _sell(till)
    sale_ref = next(x for x in sold.lines if x.startswith("Reference: ")).split(": ", 1)[1]
    before = rig.balances(0)
    form = p.start_refund()
    assert form is not None and form.ref == sale_ref and form.can_lookup and not form.rows
    p.look_up(form.ref)
    view = _looked_up(till)
    assert view.sale[0].endswith(f"Card {rig.seeded.cards[0]}") and "*" in view.sale[0]
    assert [(r.line_no, r.picked, r.left) for r in view.rows] == [(0, 0, 3), (1, 0, 1)]
    assert not view.can_review and view.can_pick
    p.pick(0, 1)
    p.pick(0, 1)
    p.pick(0, -1)
    p.pick(1, 5)  # never more than is left
    p.pick(1, -1)
    assert [r.picked for r in p.view.rows] == [1, 0] and p.view.can_review
    assert p.review("no") is None and p.view.title.startswith("Please give a reason")
    p.refund_form()
    confirm = p.review("damaged pack")
    assert confirm is not None and p.screen == "refund_confirm"
    assert rig.seeded.cards[0] in confirm.member and "*" in confirm.member
    assert any("back: 1" in line for line in confirm.lines)
    assert "To the card's stored value" in confirm.totals
    assert any(x.startswith("Money back: ≈ ¥") for x in confirm.totals)  # until the quote
    # Online, the hub's quote replaces the estimate with the figures it will book.
    wait_until(
        lambda: any(x.startswith("Money back: ¥") for x in p.view.totals),
        what="the hub's exact figures",
    )
    quoted = next(x for x in p.view.totals if x.startswith("Money back: "))
    assert "≈" not in "".join(p.view.totals) and p.screen == "refund_confirm"
    assert rig.balances(0) == before  # nothing is sent before the confirmation

    p.confirm_refund()
    p.confirm_refund()  # a second press while it is on its way sends nothing
    done = till.wait("receipt", "refund booked")
    assert done.title == "Refund"
    ref = next(x for x in done.lines if x.startswith("Reference: ")).split(": ", 1)[1]
    assert ref != sale_ref
    assert "To the card's stored value" in done.lines  # how the money came back
    money = next(x for x in done.lines if x.startswith("Money back: "))
    back_cents = int(money.split("¥", 1)[1].replace(".", "").replace(",", ""))
    assert money == quoted  # what the confirmation showed is what was booked
    assert 0 < back_cents <= 4_000
    after = rig.balances(0)
    assert after["cents"] == before["cents"] + back_cents
    assert after["points"] < before["points"]
    with rig.seeded.hub.engine.connect() as conn:
        refunds = conn.execute(sa.select(db.transfers).where(db.transfers.c.kind == "refund"))
        assert len(refunds.all()) == 1
    assert p.refunds.draft == Draft()  # fields cleared after success

    again = p.start_refund()
    assert again is not None and again.reason == "" and again.ref == ref
    p.look_up(sale_ref)
    view = _looked_up(till)
    assert [(r.left, "refunded 1" in r.label) for r in view.rows] == [(2, True), (1, False)]
    assert any(line.startswith("Refunded before ¥") for line in view.sale)
    # Another refund of the fuel line books first: the one on screen is refused plainly.
    p.pick(1, 1)
    assert p.review("second thoughts") is not None
    sale_tx = p.refunds.draft.sale.tx_id
    first = m.Refund(ref=sale_tx, lines=[m.RefundLine(line_no=1, quantity=1)], reason="elsewhere")
    booked = till.runtime.refund(rig.seeded.cards[0], first, staff="bob")
    assert booked.tx_id is not None and till.runtime.wait_result(booked.tx_id, 5.0).accepted
    p.confirm_refund()
    assert till.wait("message", "refused").title == "More than was sold and not yet refunded"
    assert "Refund: 1" in p.shift_summary().lines
    p.start_refund()
    p.refund_reason("half typed")
    p.lock()
    assert p.refunds.draft == Draft()  # and on lock


def test_offline_the_lookup_cannot_be_made(till: Till) -> None:
    p = till.presenter
    _login(till)
    till.rig.broker.stop()
    try:
        wait_until(lambda: not till.runtime.link.connected, what="offline")
        form = p.start_refund()
        assert form is not None and not form.can_lookup and form.warn
        assert form.sale == (OFFLINE_LOOKUP,)
        p.refund_ref("12/abcdef12")
        p.look_up()
        assert p.view.sale == (OFFLINE_LOOKUP,) and not p.view.rows
        assert p.review("because") is None and p.screen == "refund"
        p.set_language("zh")
        assert p.view.sale[0].startswith("离线")
        p.lock()
        assert p.refunds.draft == Draft()
    finally:
        till.rig.broker.start()
    wait_until(lambda: till.runtime.link.connected, what="online again")


def test_refund_screen_by_touch_on_the_window(window_app: Any) -> None:
    from tapcard.readers.sim import make_sim_card
    from tests.clock import pinned_today

    app, reader, rig = window_app
    p = app.presenter
    login = app.screen("login")
    login.ids.staff.text, login.ids.pin.text = "ann", PIN
    _press(login.ids.go)
    kivy_env.pump(lambda: p.screen == "home")
    issuer = rig.seeded.hub.secrets.issuer_key
    card = rig.seeded.cards[0]
    reader.tap(make_sim_card(issuer, b"\x44" * 32, card, b"\x04\x05\x06\x07", pinned_today()))
    kivy_env.pump(lambda: p.card is not None and p.card.snapshot is not None)
    p.sale()
    p.add_line("grocery", "40", 2)
    p.add_line("car_wash", "30")
    app.pay("cash")
    kivy_env.pump(lambda: p.screen == "confirm")
    kivy_env.pump()  # a screen just switched to takes touches from its next frame
    _press(app.screen("confirm").ids.go)
    kivy_env.pump(lambda: p.screen == "receipt")
    p.home()
    kivy_env.pump()
    _press(app.screen("home").ids.refund)
    kivy_env.pump(lambda: p.screen == "refund")
    screen = app.screen("refund")
    assert screen.ids.ref.text and screen.ids.review.disabled
    _press(screen.ids.lookup)
    kivy_env.pump(lambda: len(screen.ids.rows.children) == 2)
    first = screen.ids.rows.children[-1]  # Kivy lists children last first
    plus = first.children[0]
    assert plus.height >= 48 and plus.width >= 48
    _press(plus)
    kivy_env.pump(lambda: p.refunds.draft.picked.get(0) == 1)
    screen = app.screen("refund")
    screen.ids.reason.text = "wrong size"
    kivy_env.pump()
    assert not screen.ids.review.disabled
    _both(app, "refund")
    _press(screen.ids.review)
    kivy_env.pump(lambda: p.screen == "refund_confirm")
    confirm = app.screen("refund_confirm")
    assert "Paid out in cash" in confirm.totals and "wrong size" in confirm.lines
    _both(app, "refund_confirm")
    _press(confirm.ids.go)
    kivy_env.pump(lambda: p.screen == "receipt" and p.view.title == "Refund", timeout_s=15)
    kivy_env.shoot(app.manager, "terminal_refund_receipt_en")  # receipts do not redraw
    assert p.refunds.draft == Draft()


def test_a_redemption_comes_back_whole_and_restores_the_points(till: Till) -> None:
    p, rig = till.presenter, till.rig
    credit(rig.seeded.hub, rig.seeded.members[0], Asset.POINTS, 2_000)
    _login(till)
    till.tap(rig.seeded.cards[0])
    till.card_ready()
    before = rig.balances(0)["points"]
    p.redeem("PARK-HOUR", 1)
    redeemed = till.wait("receipt", "redemption")
    spent = before - rig.balances(0)["points"]
    assert spent > 0
    ref = next(x for x in redeemed.lines if x.startswith("Reference: ")).split(": ", 1)[1]
    p.start_refund()
    p.look_up(ref)
    wait_until(lambda: p.refunds.draft.sale is not None, what="the redemption looked up")
    view = p.view
    assert not view.rows and view.can_review  # no lines to pick: it comes back whole
    confirm = p.review("member changed plans")
    assert confirm is not None and confirm.totals == (f"Points restored: {spent}",)
    p.confirm_refund()
    done = till.wait("receipt", "refund booked")
    assert f"Points restored: {spent}" in done.lines
    assert rig.balances(0)["points"] == before
    p.start_refund()
    p.look_up(ref)  # given back once: never twice
    wait_until(lambda: p.refunds.draft.sale is not None, what="looked up again")
    assert p.view.warn and not p.view.can_review
    assert "the reward was already given back" in p.view.sale
