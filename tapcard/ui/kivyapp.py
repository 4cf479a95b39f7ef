"""What the kiosk and the terminal do the same way in Kivy: the CJK font, kv files loaded
once on first use, screens built on first use.

The only module under tapcard/ that imports Kivy; the presenters beside it never do.
"""

from __future__ import annotations

import signal
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.lang import Builder
from kivy.uix.screenmanager import ScreenManager

from tapcard.device.port import DevicePort
from tapcard.readers import CardReader
from tapcard.ui.i18n import cjk_font_path
from tapcard.ui.worker import CardWatcher, Tap

_loaded: set[Path] = set()  # kv rules load once per process, or widgets double up
_fonts: list[str] = []
_flushing: list[bool] = []


def register_cjk_font() -> str | None:
    """Make the CJK font Kivy's default for every widget, once per process (with Kivy's
    own Roboto, Chinese shows as boxes)."""
    path = cjk_font_path()
    if path is not None and not _fonts:
        LabelBase.register(DEFAULT_FONT, path, path, path, path)
        _fonts.append(path)
    return path


def flush_each_frame() -> None:
    """Hand every frame to the GL driver as soon as it is drawn, once per process.

    A window that is never presented (SDL's offscreen driver: tests, the headless demo,
    the benchmark) has a buffer swap that flushes nothing, so Mesa's llvmpipe queued
    frame after frame with every texture they used: the kiosk grew from 91 MB to
    140-370 MB of private memory over 100 taps, and stays flat once each frame is
    flushed. On a presented window the swap flushes anyway and this costs nothing.
    """
    if _flushing:
        return
    from kivy.core.window import Window
    from kivy.graphics.opengl import glFlush

    Window.fbind("on_flip", lambda *_args: glFlush())
    _flushing.append(True)


def load_kv(kv_dir: Path, name: str) -> None:
    path = kv_dir / f"{name}.kv"
    if path not in _loaded:
        Builder.load_file(str(path))
        _loaded.add(path)


def lazy_screen(
    manager: ScreenManager, kv_dir: Path, name: str, classes: dict[str, type[Any]]
) -> Any:
    """The screen `name`, its kv file loaded and the screen built the first time."""
    if not manager.has_screen(name):
        load_kv(kv_dir, name)
        manager.add_widget(classes[name]())
    return manager.get_screen(name)


def post(fn: Callable[[], None]) -> None:
    """Run `fn` on the UI thread at the next frame (how background work reports back)."""
    from kivy.clock import Clock

    Clock.schedule_once(lambda _dt: fn(), 0)


class TapListener(Protocol):
    """What hears of the card on the reader: each app's presenter."""

    def on_tap(self, tap: Tap) -> None: ...

    def on_removed(self) -> None: ...


def card_watcher(
    runtime: DevicePort, reader: CardReader | None, presenter: TapListener
) -> CardWatcher | None:
    """The reader loop that hands taps and removals to the app's presenter, if a reader."""
    if reader is None:
        return None
    return CardWatcher(reader, runtime.identify, presenter.on_tap, presenter.on_removed, post)


class Stoppable(Protocol):
    def stop(self) -> None: ...


def stop_on_signals(app: Stoppable) -> None:
    """Ctrl-C or systemd's SIGTERM ends the app through its own stop (on_stop runs,
    the reader and runtime close) instead of a KeyboardInterrupt in Kivy's loop."""
    from kivy.clock import Clock

    def request_stop(_signum: int, _frame: types.FrameType | None) -> None:
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
