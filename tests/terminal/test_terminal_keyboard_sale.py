"""The on-screen keyboard at the sale screen, on the offscreen window at 800x480.

Scenario: a manager rings up a free amount by touch alone. Every key of the full
keyboard and of the number pad is at least 48 px each way, measured by the sums Kivy
uses to find the key under a touch. With the number pad up for the amount, the sale's
total shows above the keys; the amount is typed, and the first touch on "Add line"
adds the line (it does not only put the keyboard away). The stored-value part, the
lowest field of the screen, keeps the total in sight too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import kivy_env
from tests.terminal.conftest import PIN
from tests.terminal.test_terminal_keyboard import _keyboard, _touch_widget, _type

TOUCH_PX_MIN = 48


@pytest.fixture
def touch_sale(window_app: Any) -> Iterator[Any]:
    from kivy.config import Config
    from kivy.core.window import Window

    from terminal.keyboard import use_touch_keyboard

    mode = Config.get("kivy", "keyboard_mode")
    use_touch_keyboard()
    app = window_app[0]
    app.touch_keyboard = True
    app.presenter.login("ann", PIN)
    kivy_env.pump(lambda: app.presenter.screen == "home")
    app.presenter.sale()
    kivy_env.pump(lambda: app.presenter.screen == "sale")
    yield app
    Window.release_all_keyboards()
    Config.set("kivy", "keyboard_mode", mode)
    Window.set_vkeyboard_class(None)
    Window.configure_keyboards()


def _key_sizes(keyboard: Any) -> list[tuple[float, float]]:
    """Each key's touch area on the window (px): the keyboard's hints times its size,
    times the docked keyboard's scale."""
    layout = keyboard.available_layouts[keyboard.layout]
    _top, _right, bottom, _left = keyboard.margin_hint
    line_px = keyboard.height * (1 - _top - bottom) / layout["rows"] * keyboard.scale
    sizes = []
    for line in range(1, layout["rows"] + 1):
        for (_x, _y), (w_hint, _h) in keyboard.layout_geometry[f"LINE_HINT_{line}"]:
            sizes.append((w_hint * keyboard.width * keyboard.scale, line_px))
    return sizes


def _keys_top(keyboard: Any) -> float:
    return float(keyboard.to_parent(0, keyboard.height)[1])


def _total_in_sight(app: Any) -> str:
    """The total shown above the keys and inside the window, or why not."""
    keyboard = _keyboard()
    strip = keyboard.summary_label  # in the keyboard's own units: a scaled Scatter
    bottom = keyboard.to_parent(strip.x, strip.y)[1]
    top = keyboard.to_parent(strip.x, strip.top)[1]
    assert strip.parent is keyboard, "the strip is not on the keyboard"  # so it is drawn
    assert strip.opacity == 1 and strip.text, "no total on the keyboard"
    assert bottom >= _keys_top(keyboard) - 1, (bottom, _keys_top(keyboard))
    assert top <= keyboard.get_root_window().height + 1, top
    return str(strip.text)


def test_keys_are_48_px_and_the_total_stays_above_the_number_pad(touch_sale: Any) -> None:
    from terminal.keyboard import FULL_LAYOUT, NUMPAD_LAYOUT

    app = touch_sale
    sale = app.screen("sale")
    _touch_widget(sale.ids.search)
    assert _keyboard().layout == FULL_LAYOUT
    small = [s for s in _key_sizes(_keyboard()) if min(s) < TOUCH_PX_MIN]
    assert not small, f"{len(small)} keys under 48 px: {small[:3]}"

    _touch_widget(sale.ids.price)
    assert sale.ids.price.focus and _keyboard().layout == NUMPAD_LAYOUT
    small = [s for s in _key_sizes(_keyboard()) if min(s) < TOUCH_PX_MIN]
    assert not small, f"{len(small)} keys under 48 px: {small[:3]}"
    assert "¥0.00" in _total_in_sight(app)
    _type("30")
    assert sale.ids.price.text == "30"

    _touch_widget(sale.ids.add_free)  # the first touch adds the line
    kivy_env.pump(lambda: len(app.presenter.lines) == 1, timeout_s=3)
    assert app.presenter.lines[0].unit_price_cents == 3_000

    _touch_widget(sale.ids.tenders.ids.part)
    assert _keyboard().layout == NUMPAD_LAYOUT
    assert "¥30.00" in _total_in_sight(app)
    field = sale.ids.tenders.ids.part
    assert field.to_window(field.x, field.y)[1] >= _keys_top(_keyboard())
    kivy_env.shoot_window("terminal_keyboard_sale_en")
