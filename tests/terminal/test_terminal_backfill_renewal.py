"""Backfill from a receipt and renewal with a fee, at a counter terminal against a real
hub and mosquitto (presenter and real window).

Scenario: a member brings last week's receipt; the cashier types its number, date and
amount, the screen shows the points it will credit, and the hub books them. The same
receipt again is refused by the hub (already earned points); a receipt older than the
rules' window is refused on the screen before anything is sent. Renewal shows the card's
expiry before and after and the fee; the member pays from stored value (the button is
off while the balance does not cover it) and the hub extends the card. On the real
window, the Check and Credit points buttons are touched, and the renewal is paid by the
stored-value button; both screens are saved in English and Chinese.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub import db
from tapcard.domain.model import Payment
from tests import kivy_env
from tests.clock import pinned_today
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till
from tests.terminal.test_terminal_window import _both, _press


def _ready(till: Till, card_index: int = 0) -> str:
    till.presenter.login("ann", PIN)
    till.wait("home", "login")
    card_id = till.rig.seeded.cards[card_index]
    till.tap(card_id)
    till.card_ready()
    return card_id


def _points(till: Till) -> int:
    return int(till.rig.balances(0)["points"])


def test_backfill_credits_points_once_within_the_window(till: Till) -> None:
    _ready(till)
    p = till.presenter
    week_ago = (pinned_today() - dt.timedelta(days=7)).isoformat()
    p.backfill_form()
    assert till.wait("backfill").can_submit is False
    view = p.check_backfill("R-1001", week_ago, "grocery", "150")
    assert view is not None and view.can_submit and not view.refused
    assert f"Receipt R-1001 of {week_ago}" in view.lines
    credit = next(line for line in view.lines if line.startswith("Points to credit"))
    expected = int(credit.rsplit(" ", 1)[1].replace(",", ""))
    assert expected > 0
    before = _points(till)
    p.submit_backfill("R-1001", week_ago, "grocery", "150")
    receipt = till.wait("receipt")
    assert f"Points earned: {expected}" in receipt.lines
    assert _points(till) == before + expected
    assert p.shift.counts["backfill"] == 1

    p.submit_backfill("R-1001", week_ago, "grocery", "150")  # the hub knows this receipt
    refused = till.wait("message")
    assert refused.title == "This receipt already earned points"
    assert _points(till) == before + expected


def test_backfill_outside_the_window_is_refused_on_screen(till: Till) -> None:
    _ready(till)
    window = till.runtime.rules.backfill_window_days
    old = (pinned_today() - dt.timedelta(days=window + 1)).isoformat()
    view = till.presenter.check_backfill("R-2002", old, "fuel", "80")
    assert view is not None and view.refused and not view.can_submit
    assert "Receipt outside the backfill window" in view.lines
    till.presenter.submit_backfill("R-2002", old, "fuel", "80")
    assert till.presenter.screen == "backfill"  # nothing was sent
    assert till.runtime.status().outbox_depth == 0
    bad = till.presenter.check_backfill("R-2002", "7 May", "fuel", "80")
    assert bad is not None and "Receipt date as YYYY-MM-DD" in bad.lines


def test_renewal_with_fee_paid_from_stored_value(till: Till) -> None:
    card_id = _ready(till)
    p = till.presenter
    view = p.renewal()
    assert view is not None and view.can_cash and not view.can_stored_value
    assert "Renewal fee: ¥50.00" in view.lines and "Not enough stored value" in view.lines
    p.top_up("80")
    till.wait("receipt")
    wait_until(lambda: p.card.snapshot.balances.stored_value_cents == 8_000, what="balance")
    view = p.renewal()
    assert view is not None and view.can_stored_value
    after = next(line for line in view.lines if line.startswith("Valid after renewal"))
    p.renew(Payment.STORED_VALUE)
    receipt = till.wait("receipt")
    assert "Paid: ¥50.00" in receipt.lines
    with till.rig.seeded.hub.engine.connect() as conn:
        card = conn.execute(sa.select(db.cards).where(db.cards.c.id == card_id)).one()
    assert after.endswith(str(card.expires_on))
    assert till.rig.balances(0)["cents"] == 3_000
    assert p.shift.cents["fee_stored_value"] == 5_000
    summary = p.shift_summary()
    assert "Renewal: 1" in summary.lines
    fee = [line for line in summary.lines if line.endswith(": ¥50.00")]
    assert fee and "fee_stored_value" not in fee[0]  # the fee, named in words


def test_backfill_and_renewal_windows(window_app: Any) -> None:
    app, reader, rig = window_app
    p = app.presenter
    _window_login_and_tap(app, reader, rig)
    p.backfill_form()
    kivy_env.pump(lambda: p.screen == "backfill")
    screen = app.screen("backfill")
    assert screen.ids.credit.disabled
    screen.ids.receipt_no.text = "R-3003"
    screen.ids.receipt_on.text = (pinned_today() - dt.timedelta(days=3)).isoformat()
    screen.ids.amount.text = "88.80"
    _press(screen.ids.check)
    kivy_env.pump()
    assert "Points to credit" in screen.body and not screen.ids.credit.disabled
    _both(app, "backfill")
    _press(screen.ids.credit)
    kivy_env.pump(lambda: p.screen == "receipt")
    assert "Points earned" in app.screen("receipt").body

    p.top_up("60")
    kivy_env.pump(lambda: p.screen == "receipt")
    kivy_env.pump(lambda: p.card.snapshot.balances.stored_value_cents == 6_000)
    p.renewal()
    kivy_env.pump(lambda: p.screen == "renewal")
    renewal = app.screen("renewal")
    assert not renewal.ids.stored_value.disabled and "¥50.00" in renewal.body
    _both(app, "renewal")
    _press(renewal.ids.stored_value)  # the confirmation first: the fee and the balance after
    kivy_env.pump(lambda: p.screen == "confirm")
    confirm = app.screen("confirm")
    assert "¥50.00" in confirm.body and "¥60.00 \u2192 ¥10.00" in confirm.body
    _press(confirm.ids.go)
    kivy_env.pump(lambda: p.screen == "receipt")
    wait_until(lambda: rig.balances(0)["cents"] == 1_000, what="fee booked")


def _window_login_and_tap(app: Any, reader: Any, rig: Any) -> None:
    from tapcard.readers.sim import make_sim_card

    p = app.presenter
    login = app.screen("login")
    login.ids.staff.text, login.ids.pin.text = "ann", PIN
    _press(login.ids.go)
    kivy_env.pump(lambda: p.screen == "home")
    issuer = rig.seeded.hub.secrets.issuer_key
    card = make_sim_card(
        issuer, b"\x44" * 32, rig.seeded.cards[0], b"\x04\x05\x06\x08", pinned_today()
    )
    reader.tap(card)
    kivy_env.pump(lambda: p.card is not None and p.card.snapshot is not None)
