"""The kiosk's private memory stays flat over many taps in an offscreen window.

An offscreen window is never presented, so its buffer swap flushes nothing to the GL
driver; before the kiosk flushed each frame itself, Mesa's llvmpipe kept every queued
frame and the textures it used, about 2.5 MB a tap (91 MB to 140-370 MB over 100 taps).
The bench (bench/ui.py) has the figures; this is the regression guard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tests.kiosk.conftest import Kiosk

WARM_TAPS: Final = 5  # the first taps load kv files, fonts and shaders
TAPS: Final = 30
GROWTH_LIMIT_MB: Final = 8.0  # measured here: under 1 MB with the flush, 20 MB without


def anon_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def tap_and_leave(kiosk: Kiosk, card_id: str, count: int) -> None:
    for _ in range(count):
        kiosk.tap(card_id)
        member = kiosk.wait_screen("member")
        assert member.name_ != ""
        kiosk.reader.remove()
        kiosk.wait_screen("idle")


def test_memory_stays_flat_over_repeated_taps(kiosk: Kiosk) -> None:
    card_id = kiosk.rig.seeded.cards[0]
    tap_and_leave(kiosk, card_id, WARM_TAPS)
    before_mb = anon_rss_mb()
    tap_and_leave(kiosk, card_id, TAPS)
    growth_mb = anon_rss_mb() - before_mb
    assert growth_mb < GROWTH_LIMIT_MB, f"{growth_mb:.1f} MB more after {TAPS} taps"
