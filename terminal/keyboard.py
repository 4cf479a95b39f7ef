"""The on-screen keyboard of a counter that has only a touchscreen.

Kivy's own virtual keyboard, docked along the bottom of the window, comes up for every
text field; fields that take digits only (PIN, amounts) get a number pad with big keys
instead of the full keyboard. A USB keyboard or barcode scanner keeps working beside it.
While the keyboard is up, the screen moves up just far enough that the field being typed
in shows above it (Kivy's own softinput modes either pan every screen by the whole
keyboard, hiding fields near the top, or leave the keyboard half off the bottom).

Kivy's keyboard is 700x200 scaled to the window's width: at 800x480 its qwerty keys were
about 47x41 px. Here its height follows the layout's rows so that every key is at least
KEY_PX high and its side margins are small enough for 15 keys of at least 48 px across.
A strip on top of the keys shows the screen's `keyboard_summary` (the sale's amount to
pay, the top-up or the renewal fee), so lifting the screen never hides what is being paid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen
from kivy.uix.vkeyboard import VKeyboard

KEYBOARD_MODE: Final = "systemanddock"  # Kivy's docked keyboard plus a physical one
FULL_LAYOUT: Final = "qwerty"
NUMPAD_LAYOUT: Final = str(Path(__file__).parent / "kv" / "numpad.json")
NUMERIC_FILTERS: Final = frozenset({"int", "float"})
FIELD_GAP_PX: Final = 8  # between the field and the keyboard's top edge
KEY_PX: Final = 52  # a key's height on the window: 48 px and Kivy's 2 px key margins
# [top, right, bottom, left] of the keyboard's own size: 15 qwerty keys of 52 px at 800 px
MARGIN_HINT: Final = (0.02, 0.01, 0.02, 0.01)
SUMMARY_PX: Final = 40  # the strip above the keys with the amount being paid
SUMMARY_BG: Final = (0.13, 0.16, 0.22, 1)


class CounterKeyboard(VKeyboard):  # type: ignore[misc]  # kivy ships no type hints
    """Kivy's keyboard, with the number pad for a field that filters to digits, and the
    screen lifted so the field stays in sight."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("margin_hint", list(MARGIN_HINT))
        super().__init__(**kwargs)
        self._lifted: Any = None  # the window's root widget while it is moved up
        self._screen: Any = None  # the screen whose summary the strip shows
        self.summary_label = Label(text="", font_size=20, halign="left", valign="middle")
        with self.summary_label.canvas.before:
            Color(*SUMMARY_BG)
            self._summary_bg = Rectangle()
        self.summary_label.bind(pos=self._place_summary_bg, size=self._place_summary_bg)
        self.add_widget(self.summary_label)
        self.bind(size=self._place_summary, scale=self._place_summary)

    def refresh(self, force: bool) -> None:
        """Kivy's refresh drops every child to draw the keys' labels again: the strip
        goes back on top of them."""
        super().refresh(force)
        if self.summary_label.parent is None:
            self.add_widget(self.summary_label)

    def on_target(self, _keyboard: Any, field: Any) -> None:
        numeric = getattr(field, "input_filter", None) in NUMERIC_FILTERS
        wanted = NUMPAD_LAYOUT if numeric else FULL_LAYOUT
        current: str = self.layout  # type: ignore[has-type]  # a Kivy property
        if current != wanted:
            self.layout = wanted
        self._fit_keys()
        self._follow(_screen_of(field) if field is not None else None)
        Clock.schedule_once(lambda _dt: self._lift_for(self.target), 0)  # once docked

    def _fit_keys(self) -> None:
        """The height in the keyboard's own units for KEY_PX rows at the docked scale."""
        from kivy.core.window import Window

        rows = _rows(self.layout, self.available_layouts)
        scale = Window.width / float(self.width)
        top, _right, bottom, _left = self.margin_hint
        height = rows * KEY_PX / scale / (1 - top - bottom)
        now: float = self.height  # type: ignore[has-type]  # a Kivy property
        if abs(now - height) > 0.5:
            self.height = height

    def _follow(self, screen: Any) -> None:
        """Show the summary of the screen being typed on, and its changes."""
        if self._screen is not None:
            self._screen.unbind(keyboard_summary=self._on_summary)
        self._screen = (
            screen if screen is not None and hasattr(screen, "keyboard_summary") else None
        )
        if self._screen is not None:
            self._screen.bind(keyboard_summary=self._on_summary)
        self._on_summary(None, self._screen.keyboard_summary if self._screen else "")

    def _on_summary(self, _screen: Any, text: str) -> None:
        self.summary_label.text = text
        self.summary_label.opacity = 1 if text else 0

    def _place_summary(self, *_args: Any) -> None:
        """The strip sits on the keys' top edge, SUMMARY_PX high on the window."""
        strip = self.summary_label
        scale = self.scale or 1.0
        strip.size = (self.width, SUMMARY_PX / scale)
        strip.pos = (0, self.height)
        strip.font_size = 20 / scale
        strip.text_size = (self.width - 16 / scale, strip.height)

    def _place_summary_bg(self, *_args: Any) -> None:
        self._summary_bg.pos, self._summary_bg.size = (
            self.summary_label.pos,
            self.summary_label.size,
        )

    def _top(self) -> float:
        """The keyboard's top edge on the window, the summary strip included."""
        strip = self.summary_label.height if self.summary_label.text else 0
        return float(self.to_parent(0, self.height + strip)[1])

    def on_parent(self, _keyboard: Any, parent: Any) -> None:
        if parent is None:  # released: the screen goes back down, after this touch
            Clock.schedule_once(self._lower, 0)

    def _lower(self, _dt: float) -> None:
        """Lower the screen once the touch that released the keyboard is done: Kivy
        unfocuses the field as the touch ends, before the touched button takes its
        touch-up, and a screen lowered then moved the button from under the finger, so
        the first touch on "Add line" only closed the keyboard."""
        if self.parent is None:
            self._lift_for(None)

    def _lift_for(self, field: Any) -> None:
        root = _root_widget(field) if field is not None and self.parent else None
        if self._lifted is not None and self._lifted is not root:
            self._lifted.y = 0
        self._lifted = root
        if root is None:
            return
        keyboard_top = self._top()
        field_bottom = field.to_window(field.x, field.y)[1] - root.y
        root.y = max(0.0, keyboard_top + FIELD_GAP_PX - field_bottom)


def _rows(layout: str, loaded: dict[str, Any]) -> int:
    """A layout's rows: Kivy loads a layout file only on its next frame."""
    if layout in loaded:
        return int(loaded[layout]["rows"])
    return int(json.loads(Path(layout).read_text(encoding="utf-8"))["rows"])


def _screen_of(widget: Any) -> Any:
    """The screen the widget is on, or None."""
    while widget is not None and not isinstance(widget, Screen):
        widget = widget.parent
    return widget


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
