"""The on-screen keyboard of a counter that has only a touchscreen.

Kivy's own virtual keyboard, docked along the bottom of the window, comes up for every
text field; fields that take digits only (PIN, amounts) get a number pad with big keys
instead of the full keyboard. A USB keyboard or barcode scanner keeps working beside it.
While the keyboard is up, the screen moves up just far enough that the field being typed
in shows above it (Kivy's own softinput modes either pan every screen by the whole
keyboard, hiding fields near the top, or leave the keyboard half off the bottom).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from kivy.clock import Clock
from kivy.uix.vkeyboard import VKeyboard

KEYBOARD_MODE: Final = "systemanddock"  # Kivy's docked keyboard plus a physical one
FULL_LAYOUT: Final = "qwerty"
NUMPAD_LAYOUT: Final = str(Path(__file__).parent / "kv" / "numpad.json")
NUMERIC_FILTERS: Final = frozenset({"int", "float"})
FIELD_GAP_PX: Final = 8  # between the field and the keyboard's top edge


class CounterKeyboard(VKeyboard):  # type: ignore[misc]  # kivy ships no type hints
    """Kivy's keyboard, with the number pad for a field that filters to digits, and the
    screen lifted so the field stays in sight."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lifted: Any = None  # the window's root widget while it is moved up

    def on_target(self, _keyboard: Any, field: Any) -> None:
        numeric = getattr(field, "input_filter", None) in NUMERIC_FILTERS
        wanted = NUMPAD_LAYOUT if numeric else FULL_LAYOUT
        current: str = self.layout  # type: ignore[has-type]  # a Kivy property
        if current != wanted:
            self.layout = wanted
        Clock.schedule_once(lambda _dt: self._lift_for(self.target), 0)  # once docked

    def on_parent(self, _keyboard: Any, parent: Any) -> None:
        if parent is None:  # released: the screen goes back down
            self._lift_for(None)

    def _lift_for(self, field: Any) -> None:
        root = _root_widget(field) if field is not None and self.parent else None
        if self._lifted is not None and self._lifted is not root:
            self._lifted.y = 0
        self._lifted = root
        if root is None:
            return
        keyboard_top = self.to_parent(0, self.height)[1]
        field_bottom = field.to_window(field.x, field.y)[1] - root.y
        root.y = max(0.0, keyboard_top + FIELD_GAP_PX - field_bottom)


def _root_widget(widget: Any) -> Any:
    """The widget's ancestor that sits directly on the window."""
    from kivy.core.window import WindowBase

    while widget.parent is not None and not isinstance(widget.parent, WindowBase):
        widget = widget.parent
    return widget if widget.parent is not None else None


def use_touch_keyboard() -> None:
    """From now on every text field brings up the docked on-screen keyboard."""
    from kivy.config import Config
    from kivy.core.window import Window

    Config.set("kivy", "keyboard_mode", KEYBOARD_MODE)
    Window.set_vkeyboard_class(CounterKeyboard)
    Window.configure_keyboards()
