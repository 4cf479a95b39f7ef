"""Kivy widgets shared by the kiosk's screens: the QR code and the font registration."""

from __future__ import annotations

from typing import Any

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import ListProperty
from kivy.uix.widget import Widget

from tapcard.ui.i18n import cjk_font_path

_registered: list[str] = []


def register_cjk_font() -> str | None:
    """Make the CJK font Kivy's default for every widget, once per process (with Kivy's
    own Roboto, Chinese shows as boxes)."""
    path = cjk_font_path()
    if path is not None and not _registered:
        LabelBase.register(DEFAULT_FONT, path, path, path, path)
        _registered.append(path)
    return path


class QrCode(Widget):  # type: ignore[misc]
    """Draws `matrix` (rows of booleans) as a crisp square texture."""

    matrix = ListProperty([])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(matrix=self._redraw, pos=self._redraw, size=self._redraw)

    def _redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        rows = self.matrix
        if not rows:
            return
        n = len(rows)
        pixels = bytearray()
        for row in reversed(rows):  # textures start at the bottom
            for dark in row:
                pixels += b"\x00\x00\x00" if dark else b"\xff\xff\xff"
        texture = Texture.create(size=(n, n), colorfmt="rgb")
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        texture.blit_buffer(bytes(pixels), colorfmt="rgb", bufferfmt="ubyte")
        side = min(self.width, self.height)
        x = self.x + (self.width - side) / 2
        y = self.y + (self.height - side) / 2
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(texture=texture, pos=(x, y), size=(side, side))
