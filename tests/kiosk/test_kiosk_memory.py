"""The kiosk's private memory stays flat over many taps in an offscreen window.

An offscreen window is never presented, so its buffer swap flushes nothing to the GL
driver; before the kiosk flushed each frame itself, Mesa's llvmpipe kept every queued
frame and the textures it used, about 2.5 MB a tap (91 MB to 140-370 MB over 100 taps).
The bench (bench/ui.py) has the figures; this is the regression guard.

Frames are paced here as a presented window paces them. On a real display the swap waits
until the frame is shown, so the GPU is never far behind. Offscreen nothing waits: on a
busy machine llvmpipe's rasterizer threads fall behind the flushed frames, and for each
frame it cannot yet recycle, llvmpipe makes another scene (up to 64). It never frees
them, and each idle scene keeps the textures of the last frame it drew. That is 26-44 MB
of growth with the flush in place, bounded but depending on the load (flat with one
scene in flight, or with LP_NUM_THREADS=0). So after each frame the test waits until the
rasterizer threads sleep. It does not flush: without the kiosk's flush no frame reaches
them, and the growth shows as before (0.87 MB a tap, loaded or not).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest

from tests.kiosk.conftest import Kiosk

WARM_TAPS: Final = 5  # the first taps load kv files, fonts and shaders
TAPS: Final = 20
# Measured, paced: 2-5 KB a tap with the flush, both cores loaded or not; 865-875 without.
GROWTH_PER_TAP_KB_MAX: Final = 150
SCREEN_WAIT_S: Final = 30.0  # a paced frame on a loaded machine takes ~0.1 s
RASTER_WAIT_S: Final = 10.0
RASTER_POLL_S: Final = 0.0005
RASTER_THREAD: Final = "llvmpipe-"  # Mesa names its rasterizer threads llvmpipe-0, -1, ...


def anon_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def rasterizer_threads() -> list[Path]:
    """The /proc stat files of this process's llvmpipe rasterizer threads."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().startswith(RASTER_THREAD):
                found.append(task / "stat")
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return found


def wait_rasterizer_idle(threads: list[Path]) -> None:
    """Until every rasterizer thread sleeps: llvmpipe wakes them when a frame is flushed,
    and they sleep again only once it is drawn, so nothing is queued behind them."""
    deadline = time.monotonic() + RASTER_WAIT_S
    while True:
        states = [stat.read_text().rsplit(")", 1)[1].split()[0] for stat in threads]
        if all(state == "S" for state in states):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"rasterizer threads still busy after {RASTER_WAIT_S} s")
        time.sleep(RASTER_POLL_S)


def pump_paced(threads: list[Path], until: Callable[[], bool]) -> None:
    """tests.kivy_env.pump, each frame waiting until llvmpipe has drawn the last one."""
    from kivy.base import EventLoop

    deadline = time.monotonic() + SCREEN_WAIT_S
    while True:
        EventLoop.idle()
        wait_rasterizer_idle(threads)
        if until():
            EventLoop.idle()
            wait_rasterizer_idle(threads)
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {SCREEN_WAIT_S} s waiting for {until}")


def tap_and_leave(kiosk: Kiosk, threads: list[Path], card_id: str) -> None:
    kiosk.tap(card_id)
    pump_paced(threads, lambda: kiosk.presenter.screen == "member")
    assert kiosk.app.screen("member").name_ != ""
    kiosk.reader.remove()
    pump_paced(threads, lambda: kiosk.presenter.screen == "idle")


def slope(values: list[int]) -> float:
    """Theil-Sen: the median of the slopes between every two points, so that one step
    (an allocator arena, a late cache) does not pass for a trend."""
    pairs = [
        (values[j] - values[i]) / (j - i)
        for i in range(len(values))
        for j in range(i + 1, len(values))
    ]
    return statistics.median(pairs)


def test_memory_stays_flat_over_repeated_taps(kiosk: Kiosk) -> None:
    from kivy.graphics.opengl import GL_RENDERER, glGetString

    renderer = bytes(glGetString(GL_RENDERER)).decode()
    if "llvmpipe" not in renderer:
        pytest.skip(f"measures Mesa's llvmpipe; this window renders with {renderer}")
    threads = rasterizer_threads()
    # With LP_NUM_THREADS=0 llvmpipe draws in this thread and the missing flush never shows.
    assert threads, f"no {RASTER_THREAD}* threads in this process (LP_NUM_THREADS=0?)"
    card_id = kiosk.rig.seeded.cards[0]
    for _ in range(WARM_TAPS):
        tap_and_leave(kiosk, threads, card_id)
    rss_kb = [anon_rss_kb()]
    for _ in range(TAPS):
        tap_and_leave(kiosk, threads, card_id)
        rss_kb.append(anon_rss_kb())
    per_tap_kb = slope(rss_kb)
    assert per_tap_kb < GROWTH_PER_TAP_KB_MAX, (
        f"{per_tap_kb:.0f} KB a tap ({(rss_kb[-1] - rss_kb[0]) / 1024:.1f} MB over {TAPS} taps)"
    )
