"""The till's shift on the terminal's real Kivy window (offscreen), against a real hub.

Scenario: ann logs in by touch, counts ¥300.00 into the shift screen's field and
touches "Open shift"; a cash sale follows; the terminal locks and she logs in again:
the shift screen still shows the float and the sale. In Chinese every label is a word
(备用金, 应有现金), no takings key. She counts the drawer ¥0.50 over and touches
"Close shift": the screen shows the difference, the hub records the shift. Both screens
are saved in English and Chinese.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub import db
from tapcard.readers.sim import make_sim_card
from tests import kivy_env
from tests.clock import pinned_today
from tests.terminal.conftest import PIN
from tests.terminal.test_terminal_window import _both, _press

RAW_KEYS = ("sale_cash", "fee_cash", "topup_", "stored_value")


def _log_in(app: Any) -> None:
    login = app.screen("login")
    login.ids.staff.text, login.ids.pin.text = "ann", PIN
    _press(login.ids.go)
    kivy_env.pump(lambda: app.presenter.screen == "home")


def test_the_shift_screen_opens_survives_a_lock_and_closes(window_app: Any) -> None:
    app, reader, rig = window_app
    p = app.presenter
    _log_in(app)
    p.shift_summary()
    kivy_env.pump(lambda: p.screen == "shift")
    screen = app.screen("shift")
    assert "No shift is open" in screen.body
    screen.ids.counted.text = "300"
    _press(screen.ids.open_shift)
    kivy_env.pump(lambda: "Float: ¥300.00" in screen.body)
    issuer = rig.seeded.hub.secrets.issuer_key
    uid = b"\x04\x05\x06\x08"
    card = make_sim_card(issuer, b"\x44" * 32, rig.seeded.cards[0], uid, pinned_today())
    reader.tap(card)
    kivy_env.pump(lambda: p.card is not None and p.card.snapshot is not None)
    p.sale()
    p.add_line("fuel", "50")
    kivy_env.pump()
    app.pay("cash")
    kivy_env.pump(lambda: p.screen == "confirm")
    kivy_env.pump()  # a screen just switched to takes touches from its next frame
    _press(app.screen("confirm").ids.go)
    kivy_env.pump(lambda: p.screen == "receipt" and p.shift.counts["sale"] == 1)

    p.lock()
    kivy_env.pump(lambda: p.screen == "login")
    _log_in(app)
    p.shift_summary()
    kivy_env.pump(lambda: p.screen == "shift")
    assert "Float: ¥300.00" in screen.body and "Sale: 1" in screen.body
    _both(app, "shift_open")
    app.toggle_language()
    kivy_env.pump()
    p.shift_summary()
    kivy_env.pump()
    assert "备用金" in screen.body and "应有现金" in screen.body, screen.body
    assert not any(key in screen.body for key in RAW_KEYS), screen.body
    app.toggle_language()
    kivy_env.pump()

    expected = p.shift.expected_cents()
    screen.ids.counted.text = f"{(expected + 50) / 100:.2f}"
    _press(screen.ids.close_shift)
    kivy_env.pump(lambda: "Reported to the hub" in screen.body, timeout_s=20)
    assert "Difference: +¥0.50" in screen.body, screen.body
    _both(app, "shift_closed")
    with rig.seeded.hub.engine.connect() as conn:
        (row,) = conn.execute(sa.select(db.till_shifts)).all()
    assert (row.device_id, row.float_cents, row.difference_cents) == ("till-2", 30_000, 50)
