"""Kiosk benchmark: cold start to the idle screen, tap-to-screen latency online and
offline, and the kiosk's private memory (RssAnon) after the taps.

The kiosk runs in its own process, the real app (`kiosk.__main__.open_kiosk`, `App.run`
with Kivy's own loop and frame pacing) on an offscreen SDL2 window, so its RssAnon is
its alone. This process holds the hub, its ingest and a private mosquitto, and taps the
card through the sim reader's Unix socket, as `tapcard device tap` does.

- start: from spawning the kiosk process to the first frame that shows the idle screen.
- tap-to-screen: from the card put on the reader (the socket command sent) to the frame
  that draws the member screen (the kiosk reports that frame's CLOCK_MONOTONIC, which
  both processes share). Online first, then with the broker stopped (offline cache).
- memory: RssAnon of the kiosk process after the online taps and after all taps.

`--quick` runs 30 taps each way (under a minute); the full run 100 each way. The last
line is JSON with start_s, anon_rss_mb and tap_to_screen_p99_ms (the worse of the two),
plus the online and offline split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rig import make_rig, wait_until

TAPS_FULL: Final = 100
TAPS_QUICK: Final = 30
MASTER: Final = b"\x55" * 32
TAG: Final = "@bench"  # the child's report lines; anything else on its stdout is ignored
SCREEN_WAIT_S: Final = 10.0
START_WAIT_S: Final = 60.0
ROOT: Final = Path(__file__).resolve().parents[1]
TRACE: Final = bool(os.environ.get("BENCH_UI_TRACE"))  # print the timeline of slow taps
TRACE_SLOW_MS: Final = 80


# --- the kiosk process ------------------------------------------------------------------


def kiosk_child(data_dir: Path) -> int:
    """The real kiosk app; reports each screen's first drawn frame and answers commands
    on stdin (`status`: is the hub link up; `quit`)."""
    from kiosk.__main__ import open_kiosk
    from tapcard.ui.environment import set_kivy_environment

    set_kivy_environment()
    pending: list[str] = []
    out = sys.stdout

    def say(*words: object) -> None:
        out.write(" ".join([TAG, *map(str, words)]) + "\n")
        out.flush()

    app, runtime, reader = open_kiosk(data_dir, "zh", on_view=lambda name, _v: pending.append(name))
    from kivy.clock import Clock
    from kivy.core.window import Window

    Window.size = (800, 480)

    def on_flip(*_args: Any) -> None:
        now = time.monotonic()  # this frame is on screen: report what it shows
        while pending:
            say("drawn", pending.pop(0), f"{now:.6f}")

    Window.bind(on_flip=on_flip)

    def commands() -> None:
        for line in sys.stdin:
            word = line.strip()
            if word == "status":
                say("status", int(bool(runtime.link.connected)))
            elif word == "quit":
                Clock.schedule_once(lambda _dt: app.stop(), 0)
                return

    threading.Thread(target=commands, name="bench-commands", daemon=True).start()
    if os.environ.get("BENCH_UI_TRACE"):
        trace_gc(say)
    try:
        app.run()
    finally:
        runtime.stop()
        reader.close()
    say("stopped")
    return 0


def trace_gc(say: Any) -> None:
    """Report each garbage collection that takes longer than a millisecond."""
    import gc

    began: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[:] = [time.monotonic()]
        elif began and (took := time.monotonic() - began[0]) > 0.001:
            say("gc", info["generation"], f"{took * 1000:.1f}ms", f"{time.monotonic():.6f}")

    gc.callbacks.append(callback)


# --- this process: hub, broker, taps ------------------------------------------------------


class Kiosk:
    def __init__(self, data_dir: Path) -> None:
        env = dict(os.environ)
        env.update(
            SDL_VIDEODRIVER=os.environ.get("SDL_VIDEODRIVER", "offscreen"),
            KIVY_WINDOW="sdl2",
            KIVY_NO_ARGS="1",
            KIVY_NO_CONSOLELOG="1",
            KIVY_HOME=tempfile.mkdtemp(prefix="kivy-home-"),
            PYTHONPATH=str(ROOT),
        )
        self.lines: queue.Queue[list[str]] = queue.Queue()
        self.seen: list[str] = []
        self.t0 = time.monotonic()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--kiosk-child", str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            words = line.split()
            if words and words[0] == TAG:
                self.lines.put(words[1:])
                self.seen = [*self.seen[-8:], f"{words[1:]}@{time.monotonic() - self.t0:.3f}"]

    def expect(self, kind: str, arg: str, timeout_s: float = SCREEN_WAIT_S) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                words = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"kiosk: no {kind} {arg} within {timeout_s} s") from None
            if words[:2] == [kind, arg]:
                return words

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def link_is(self, up: bool, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.send("status")
            words = self._next("status")
            if words[1] == str(int(up)):
                return
            time.sleep(0.1)
        raise SystemExit(f"kiosk link not {'up' if up else 'down'} after {timeout_s} s")

    def _next(self, kind: str) -> list[str]:
        while True:
            words = self.lines.get(timeout=SCREEN_WAIT_S)
            if words[0] == kind:
                return words

    def anon_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no RssAnon in /proc status")

    def stop(self) -> int:
        self.send("quit")
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            return self.proc.wait(5)


def taps(kiosk: Kiosk, socket_path: str, card: Any, count: int) -> list[float]:
    from tapcard.readers.sim import send_sim_command

    times = []
    for _ in range(count):
        start = time.monotonic()
        send_sim_command(socket_path, card)
        drawn = float(kiosk.expect("drawn", "member")[2])
        if TRACE and (drawn - start) * 1000 > TRACE_SLOW_MS:
            print(f"slow tap {(drawn - start) * 1000:.0f} ms:", *kiosk.seen, flush=True)
        times.append((drawn - start) * 1000)
        send_sim_command(socket_path, None)
        kiosk.expect("drawn", "idle")
    return times


def pct(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kiosk-child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kiosk_child:
        return kiosk_child(Path(args.kiosk_child))
    count = TAPS_QUICK if args.quick else TAPS_FULL
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    rig = make_rig(folder)
    from tapcard.device.bundle import BUNDLE_FILE
    from tapcard.readers.sim import make_sim_card

    rig.device_dir.mkdir(parents=True, exist_ok=True)
    (rig.device_dir / BUNDLE_FILE).write_bytes(rig.bundle.raw)
    socket_path = str(rig.device_dir / "sim.sock")
    card = make_sim_card(
        rig.hub.secrets.issuer_key, MASTER, rig.cards[0], b"\x04\x01\x02\x03", dt.date.today()
    )
    kiosk = Kiosk(rig.device_dir)
    first = kiosk.expect("drawn", "idle", START_WAIT_S)
    start_s = float(first[2]) - kiosk.started
    try:
        kiosk.link_is(True, 20)
        rss_idle = kiosk.anon_rss_mb()
        online = taps(kiosk, socket_path, card, count)
        rss_online = kiosk.anon_rss_mb()
        rig.broker.stop()
        kiosk.link_is(False, 20)
        offline = taps(kiosk, socket_path, card, count)
        rss = kiosk.anon_rss_mb()
    finally:
        code = kiosk.stop()
        rig.service.stop()
        rig.hub.close()
    wait_until(lambda: kiosk.proc.poll() is not None, 5, "kiosk exit")
    for name, values in (("online", online), ("offline", offline)):
        print(
            f"tap-to-screen {name} ({len(values)} taps): p50 {pct(values, 50):.1f} ms, "
            f"p99 {pct(values, 99):.1f} ms, max {max(values):.1f} ms"
        )
    print(f"cold start to idle: {start_s:.2f} s (kiosk process, exit code {code})")
    print(
        f"kiosk RssAnon: {rss_idle:.1f} MB idle, {rss_online:.1f} MB after {count} taps, "
        f"{rss:.1f} MB after {2 * count}"
    )
    worst = max(pct(online, 99), pct(offline, 99))
    print(
        json.dumps(
            {
                "start_s": round(start_s, 3),
                "anon_rss_mb": round(rss, 1),
                "anon_rss_mb_idle": round(rss_idle, 1),
                "anon_rss_mb_after_online": round(rss_online, 1),
                "tap_to_screen_p99_ms": round(worst, 1),
                "tap_to_screen_p50_ms_online": round(pct(online, 50), 1),
                "tap_to_screen_p99_ms_online": round(pct(online, 99), 1),
                "tap_to_screen_p50_ms_offline": round(pct(offline, 50), 1),
                "tap_to_screen_p99_ms_offline": round(pct(offline, 99), 1),
                "taps": 2 * count,
                "kiosk_exit_code": code,
            }
        )
    )
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
