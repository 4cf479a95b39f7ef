"""The terminal's real Kivy window (offscreen), against a real hub and mosquitto.

Scenario: staff log in by touching the real Log in button, a member taps, a sale is
rung up and paid, the shift summary is shown; every main screen is saved in English
and Chinese. Then the broker goes away: a sale is accepted offline, the header shows
the queue count, and once the broker is back the queue drains into the hub's ledger.
"""

from __future__ import annotations

from typing import Any

from tapcard.domain.model import Payment
from tests import kivy_env
from tests.clock import pinned_today
from tests.device.conftest import Rig, wait_until
from tests.terminal.conftest import PIN, Till, close_till, make_till


def _press(button: Any) -> None:
    from kivy.tests.common import UnitTestTouch

    x, y = button.to_window(*button.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def _both(app: Any, name: str) -> None:
    kivy_env.shoot(app.manager, f"terminal_{name}_{app.lang}")
    app.toggle_language()
    kivy_env.pump()
    kivy_env.shoot(app.manager, f"terminal_{name}_{app.lang}")
    app.toggle_language()
    kivy_env.pump()


def test_terminal_screens_in_both_languages(window_app: Any) -> None:

    from tapcard.readers.sim import make_sim_card

    app, reader, rig = window_app
    p = app.presenter
    login = app.screen("login")
    login.ids.staff.text, login.ids.pin.text = "ann", PIN
    _both(app, "login")
    _press(login.ids.go)
    kivy_env.pump(lambda: p.screen == "home")
    issuer = rig.seeded.hub.secrets.issuer_key
    reader.tap(
        make_sim_card(
            issuer, b"\x44" * 32, rig.seeded.cards[0], b"\x04\x05\x06\x07", pinned_today()
        )
    )
    kivy_env.pump(lambda: p.card is not None and p.card.snapshot is not None)
    p.home()
    kivy_env.pump()
    _both(app, "home")
    p.sale()
    p.add_line("grocery", "128.50")
    p.add_line("group_buy", "30")
    kivy_env.pump()
    assert app.screen("sale").can_pay
    _both(app, "sale")
    app.pay("cash")
    kivy_env.pump(lambda: p.screen == "confirm")
    kivy_env.pump()  # a screen just switched to takes touches from its next frame
    _press(app.screen("confirm").ids.go)
    kivy_env.pump(lambda: p.screen == "receipt")
    _both(app, "receipt")
    p.search("Ana Silva")  # the full name: names match whole (sealed)
    kivy_env.pump(lambda: p.screen == "members")
    _both(app, "members")
    p.shift_summary()
    kivy_env.pump()
    _both(app, "shift")


def test_offline_sale_is_queued_then_drained(rig: Rig) -> None:
    till: Till = make_till(rig, "till-3")
    try:
        till.presenter.login("ann", PIN)
        till.wait("home")
        till.tap(rig.seeded.cards[1])
        till.card_ready()
        rig.broker.stop()
        wait_until(lambda: not till.runtime.link.connected, what="link down")
        till.presenter.sale()
        till.presenter.add_line("fuel", "50")
        till.presenter.pay(Payment.CASH)
        till.confirm()
        receipt = till.wait("receipt")
        assert "Queued offline: sent when the hub is back" in receipt.lines
        till.presenter.tick()
        wait_until(lambda: till.presenter.queue_depth == 1, what="queue count")
        assert till.presenter.header().queue.startswith("Queue: 1")
        rig.broker.start()
        wait_until(lambda: till.runtime.status().outbox_depth == 0, what="drained")
        assert rig.balances(1)["points"] > 0  # booked once, by the rules of the day
    finally:
        close_till(till)
