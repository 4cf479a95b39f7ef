"""The counter's registration form in the real Kivy window (offscreen), by touch, against
a real hub and mosquitto.

Scenario: Ann touches Register on the home screen; a blank card is on the reader. She
types the name and a phone with letters in it: the error shows at once. Fixed, she
touches Check: the confirmation shows the phone masked and the joining fee in yuan
(saved in English and Chinese); she touches Confirm and the card is issued. Opened
again, the form is empty. Every button and field is at least 48 px high.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub import db
from hub.privacy_keys import phone_index
from tapcard.readers.sim import SimCard, make_sim_card
from tests import kivy_env
from tests.clock import pinned_today
from tests.terminal.conftest import PIN
from tests.terminal.test_terminal_window import _both, _press

UID = b"\x04\xaa\xbb\xcc\xdd\xee\x21"
TOUCH_PX_MIN = 48


def _button(screen: Any, text: str) -> Any:
    from kivy.uix.button import Button

    [found] = [w for w in screen.walk() if isinstance(w, Button) and w.text == text]
    return found


def test_registration_by_touch(window_app: Any) -> None:
    from kivy.metrics import dp
    from kivy.uix.button import Button
    from kivy.uix.textinput import TextInput

    app, reader, rig = window_app
    p = app.presenter
    p.login("ann", PIN)
    kivy_env.pump(lambda: p.screen == "home")
    seed = make_sim_card(rig.seeded.hub.secrets.issuer_key, b"\x44" * 32, "x", UID, pinned_today())
    reader.tap(SimCard(UID, b"", seed.card_seed))
    kivy_env.pump(lambda: p.card is not None and p.card.tap.blank)
    _press(_button(app.screen("home"), "Register"))
    kivy_env.pump(lambda: p.screen == "register")
    form = app.screen("register")
    kivy_env.pump()
    targets = [w for w in form.walk() if isinstance(w, Button | TextInput)]
    assert len(targets) == 10  # four fields, three choices, back, check, confirm
    small = [w for w in targets if w.height < dp(TOUCH_PX_MIN) - 0.5]
    assert not small, [(type(w).__name__, w.height) for w in small]
    assert form.note == "Joining fee: ¥20.00, paid in cash" and form.ids.confirm.disabled

    form.ids.name.text = "Wu Shi"
    form.ids.phone.text = "139abc"
    kivy_env.pump()
    assert (form.note, form.warn) == ("Phone must be 5-20 digits", True)
    form.ids.phone.text = "13900000055"
    form.ids.id_number.text = "110101199001011234"
    kivy_env.pump()
    assert not form.warn
    _press(form.ids.check)
    kivy_env.pump(lambda: form.confirming)
    assert "Phone: *******0055" in form.note and "110101199001011234" not in form.note
    assert form.note.endswith("Joining fee: ¥20.00, paid in cash")
    assert not form.ids.confirm.disabled
    _both(app, "register")
    _press(form.ids.confirm)
    kivy_env.pump(lambda: p.screen == "message", timeout_s=20)
    assert "is ready" in app.screen("message").title
    with rig.seeded.hub.engine.connect() as conn:
        row = conn.execute(
            sa.select(db.members).where(db.members.c.phone_index == phone_index("13900000055"))
        ).one()
    assert (row.name, row.id_number_masked) == ("Wu Shi", "1101**********1234")

    p.home()
    kivy_env.pump(lambda: p.screen == "home")
    _press(_button(app.screen("home"), "Register"))
    kivy_env.pump(lambda: p.screen == "register")
    texts = [form.ids[f].text for f in ("name", "phone", "id_number", "birthday")]
    assert texts == ["", "", "", ""]
