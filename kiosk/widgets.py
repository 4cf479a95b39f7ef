"""Kivy widgets of the kiosk's screens: the QR code."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import ListProperty
from kivy.uix.widget import Widget


class QrCode(Widget):  # type: ignore[misc]  # kivy ships no type hints
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
