"""Kiosk benchmark: cold start to the idle screen, tap-to-screen latency online and
offline, and private memory (RssAnon) after the taps, on a real offscreen Kivy window
with the sim reader against a real hub and mosquitto.

Tap-to-screen is card present on the reader until the member screen has been drawn
(the frame after the presenter switched). `--quick` runs fewer taps (under a minute).
The last line is JSON with start_s, anon_rss_mb and tap_to_screen_p99_ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_WINDOW", "sdl2")
os.environ["KIVY_NO_ARGS"] = "1"
os.environ["KIVY_NO_CONSOLELOG"] = "1"
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rig import make_rig, ready_runtime, wait_until

TAPS_FULL = 100
TAPS_QUICK = 30
MASTER = b"\x55" * 32


def anon_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pump_until(check: Any, timeout_s: float = 10.0) -> None:
    from kivy.base import EventLoop

    deadline = time.monotonic() + timeout_s
    while not check():
        EventLoop.idle()
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
    EventLoop.idle()  # the frame that draws it


def taps(app: Any, reader: Any, card: Any, count: int) -> list[float]:
    p, times = app.presenter, []
    for _ in range(count):
        start = time.perf_counter()
        reader.tap(card)
        pump_until(lambda: p.screen == "member")
        times.append((time.perf_counter() - start) * 1000)
        reader.remove()
        pump_until(lambda: p.screen == "idle")
    return times


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    count = TAPS_QUICK if parser.parse_args().quick else TAPS_FULL
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    rig = make_rig(folder)
    from tapcard.readers.sim import SimReader, make_sim_card

    reader = SimReader()
    runtime = ready_runtime(rig, reader=reader)
    card = make_sim_card(
        rig.hub.secrets.issuer_key, MASTER, rig.cards[0], b"\x04\x01\x02\x03", dt.date.today()
    )
    started = time.perf_counter()
    from kivy.core.window import Window

    from kiosk.app import KioskApp

    Window.size = (800, 480)
    app = KioskApp(runtime, reader, "Shop one", "zh")
    Window.add_widget(app.build())
    pump_until(lambda: app.presenter.screen == "idle")
    start_s = time.perf_counter() - started
    online = taps(app, reader, card, count)
    rig.broker.stop()
    wait_until(lambda: not runtime.link.connected, 20, "offline")
    offline = taps(app, reader, card, count)
    rss = anon_rss_mb()
    app.dispatch("on_stop")
    runtime.stop()
    reader.close()
    rig.service.stop()
    rig.hub.close()
    for name, values in (("online", online), ("offline", offline)):
        print(f"tap-to-screen {name}: p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms")
    print(f"cold start to idle: {start_s:.2f} s; RssAnon after {2 * count} taps: {rss:.1f} MB")
    worst = max(pct(online, 99), pct(offline, 99))
    print(
        json.dumps(
            {
                "start_s": round(start_s, 3),
                "anon_rss_mb": round(rss, 1),
                "tap_to_screen_p99_ms": round(worst, 1),
                "tap_to_screen_p50_ms_online": round(pct(online, 50), 1),
                "tap_to_screen_p50_ms_offline": round(pct(offline, 50), 1),
                "taps": 2 * count,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
