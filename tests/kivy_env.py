"""Kivy on an offscreen SDL2 window through Mesa EGL: no X server, no GPU.

Imported first by the kiosk and terminal test conftests, before anything imports kivy.
Never KIVY_GL_BACKEND=mock: it hangs. A temporary KIVY_HOME keeps the user's config
out, and Kivy's logger goes through Python logging (so the test guards see it).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.screenshots import shots_dir

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_WINDOW", "sdl2")
os.environ["KIVY_NO_ARGS"] = "1"
os.environ["KIVY_NO_CONSOLELOG"] = "1"
os.environ["KIVY_LOG_MODE"] = "PYTHON"
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))

SCREEN_SIZE = (800, 480)


def window() -> object:
    from kivy.core.window import Window

    Window.size = SCREEN_SIZE
    return Window


def pump(until: Callable[[], bool] | None = None, timeout_s: float = 15.0) -> None:
    """Run Kivy's loop (clock, input, drawing) until `until()` holds, or a few frames."""
    from kivy.base import EventLoop

    deadline = time.monotonic() + timeout_s
    frames = 0
    while True:
        EventLoop.idle()
        frames += 1
        if until is None and frames >= 3:
            return
        if until is not None and until():
            EventLoop.idle()
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {until}")
        time.sleep(0.005)


def shoot(widget: object, name: str) -> Path:
    """Save the widget as <name>.png in the screenshots folder (export_to_png keeps the
    name); the picture must not be empty."""
    pump()
    path = shots_dir() / f"{name}.png"
    widget.export_to_png(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 0, path
    return path


def shoot_window(name: str) -> Path:
    """Save the whole window (widgets on top of the app included, like the on-screen
    keyboard) as <name>.png; Window.screenshot numbers its files, so rename it."""
    from kivy.core.window import Window

    pump()
    numbered = Window.screenshot(name=str(shots_dir() / f"{name}.png"))
    assert numbered, "no screenshot taken"
    path = shots_dir() / f"{name}.png"
    os.replace(numbered, path)
    assert path.stat().st_size > 0, path
    return path
