"""A counter with only a touchscreen: staff log in and ring up an amount by touch alone.

Scenario: the terminal runs with the on-screen keyboard (`--touch-keyboard`). Touching
the staff ID field docks Kivy's keyboard at the bottom; the ID is typed on its keys.
Its Enter key moves on to the PIN field and swaps the keyboard for the number pad;
the PIN is typed on that and its Enter key logs in: the manager is in. The amount field
of the home screen gets the number pad too; its close key puts the keyboard away and
the screen back down. Each field shows above the keyboard; the keyboards are saved as
screenshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import kivy_env
from tests.terminal.conftest import PIN


def _touch(x: float, y: float) -> None:
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()
    kivy_env.pump()


def _touch_widget(widget: Any) -> None:
    _touch(*widget.to_window(*widget.center))


def _keyboard() -> Any:
    from kivy.core.window import Window
    from kivy.uix.vkeyboard import VKeyboard

    shown = [w for w in Window.children if isinstance(w, VKeyboard)]
    assert len(shown) == 1, f"{len(shown)} on-screen keyboards shown"
    return shown[0]


def _key_centre(keyboard: Any, line: int, index: int) -> tuple[float, float]:
    """The middle of a key in the keyboard's own coordinates, by the same sums Kivy's
    VKeyboard.get_key_at_pos uses to find the key under a touch."""
    rows = keyboard.available_layouts[keyboard.layout]["rows"]
    width, height = keyboard.size
    _top, _right, bottom, _left = keyboard.margin_hint
    (x_hint, _), (w_hint, _) = keyboard.layout_geometry[f"LINE_HINT_{line}"][index]
    line_height = (height - (bottom + _top) * height) / rows
    return (x_hint + w_hint / 2) * width, bottom * height + (rows - line + 0.5) * line_height


def _press_key(keyboard: Any, char: str | None, special: str | None = None) -> None:
    """Touch the key that types `char` (or the `special` one: enter, backspace...)."""
    layout = keyboard.available_layouts[keyboard.layout]
    for line in range(1, layout["rows"] + 1):
        keys = layout[f"{keyboard.layout_mode}_{line}"]
        found = [
            i for i, key in enumerate(keys) if key[1] == char and key[2] == (special or key[2])
        ]
        if found:
            # a Scatter: to_parent applies its scale (the window is its parent)
            _touch(*keyboard.to_parent(*_key_centre(keyboard, line, found[0])))
            return
    raise AssertionError(f"no key {char or special!r} on the {keyboard.layout} keyboard")


def _type(text: str) -> None:
    for char in text:
        _press_key(_keyboard(), char)


def _shows_above_the_keyboard(field: Any) -> bool:
    keyboard = _keyboard()
    bottom = field.to_window(field.x, field.y)[1]
    top = field.to_window(field.right, field.top)[1]
    return bool(
        bottom >= keyboard.to_parent(0, keyboard.height)[1]
        and top <= keyboard.get_root_window().height
    )


def _enter() -> None:
    _press_key(_keyboard(), None, "enter")


@pytest.fixture
def touch_only(window_app: Any) -> Iterator[Any]:
    """The window app with the docked keyboard, put back as it was afterwards."""
    from kivy.config import Config
    from kivy.core.window import Window

    from terminal.keyboard import use_touch_keyboard

    mode = Config.get("kivy", "keyboard_mode")
    use_touch_keyboard()
    yield window_app
    Window.release_all_keyboards()
    Config.set("kivy", "keyboard_mode", mode)
    Window.set_vkeyboard_class(None)
    Window.configure_keyboards()


def test_log_in_and_enter_an_amount_by_touch_alone(touch_only: Any) -> None:
    from terminal.keyboard import FULL_LAYOUT, NUMPAD_LAYOUT

    app, _reader, _rig = touch_only
    login = app.screen("login")
    _touch_widget(login.ids.staff)
    assert login.ids.staff.focus and _keyboard().layout == FULL_LAYOUT
    _type("ann")
    assert login.ids.staff.text == "ann"
    assert _shows_above_the_keyboard(login.ids.staff)
    kivy_env.shoot_window("terminal_keyboard_text_en")

    _enter()  # on to the PIN field, which the keyboard may cover
    assert login.ids.pin.focus and _keyboard().layout == NUMPAD_LAYOUT
    _type(PIN)
    assert login.ids.pin.text == PIN
    assert _shows_above_the_keyboard(login.ids.pin)
    kivy_env.shoot_window("terminal_keyboard_numpad_en")
    _enter()  # logs in, as the Log in button does
    kivy_env.pump(lambda: app.presenter.screen == "home")
    assert app.presenter.staff is not None and app.presenter.staff.staff_id == "ann"

    home = app.screen("home")
    _touch_widget(home.ids.amount)
    assert _keyboard().layout == NUMPAD_LAYOUT
    _type("12.50")
    assert home.ids.amount.text == "12.50"
    assert _shows_above_the_keyboard(home.ids.amount)
    kivy_env.shoot_window("terminal_keyboard_amount_en")
    _press_key(_keyboard(), None, "escape")  # done typing: the keyboard goes away
    from kivy.core.window import Window
    from kivy.uix.vkeyboard import VKeyboard

    assert not home.ids.amount.focus
    assert not [w for w in Window.children if isinstance(w, VKeyboard)]
    assert app.manager.y == 0, "the screen is back down"
