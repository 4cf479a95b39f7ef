"""Kiosk benchmark: cold start to the idle screen, tap-to-screen latency online and
offline, and the kiosk's private memory (RssAnon) after the taps, beside a peer.

The kiosk runs in its own process, the real app (`kiosk.__main__.open_kiosk`, `App.run`
with Kivy's own loop and frame pacing) on an offscreen SDL2 window, so its RssAnon is
its alone (this process holds the hub, its ingest and a private mosquitto, and taps the
card through the sim reader's Unix socket, as `tapcard device tap` does).

- start: from spawning the process to the first frame that shows the idle screen.
- tap-to-screen: from the card put on the reader (the socket command sent) to the frame
  that shows the member screen, rasterised (the child calls glFinish, then reports the
  CLOCK_MONOTONIC both processes share). Online first, then with the broker stopped.
- memory: RssAnon of the kiosk after the online taps and after all taps.
- idle CPU: the share of one core used while the idle screen is up (online).
- peer: a bare Kivy app with one label in the same kind of window and font, switched by
  the same number of "taps" over stdin: the floor Kivy, SDL and Mesa set on their own.
- scan -> line shown (bench/ui_scan.py): the real terminal app with a 2,000-product
  catalog, a USB barcode scanner as key events, from Enter to the frame that shows the
  new line, beside a bare TextInput that adds a label (after the kiosk, in this process).

`--quick` runs 30 taps each way (under a minute); the full run 100 each way. The last
line is JSON with start_s, anon_rss_mb and tap_to_screen_p99_ms (the worse of online
and offline), the split, the peer's figures under peer_bare_kivy, and the terminal's
scan figures under terminal_scan (its peer under terminal_scan.peer_bare_textinput).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

# The project's root first: a dependency (python-barcode) installs a top-level `tests`
# package of its own, which would hide ours. Then this folder, for ui_scan.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.clock import pinned_today

TAPS_FULL: Final = 100
TAPS_QUICK: Final = 30
SCANS_FULL: Final = 200
SCANS_QUICK: Final = 50
MASTER: Final = b"\x55" * 32
TAG: Final = "@bench"  # the child's report lines; anything else on its stdout is ignored
SCREEN_WAIT_S: Final = 10.0
START_WAIT_S: Final = 60.0
ROOT: Final = Path(__file__).resolve().parents[1]
TRACE: Final = bool(os.environ.get("BENCH_UI_TRACE"))  # print the timeline of slow taps
TRACE_SLOW_MS: Final = 80
IDLE_SAMPLE_S: Final = 5.0  # CPU measured while the idle screen is up and nobody taps
IDLE_SAMPLE_S_QUICK: Final = 2.0


# --- the measured processes -------------------------------------------------------------


def say(*words: object) -> None:
    sys.stdout.write(" ".join([TAG, *map(str, words)]) + "\n")
    sys.stdout.flush()


def report_frames(pending: list[str]) -> None:
    """Report the screens a frame shows once the frame is rasterised: glFinish waits for
    the driver, so "drawn" means pixels, not queued commands."""
    from kivy.core.window import Window
    from kivy.graphics.opengl import glFinish

    Window.size = (800, 480)

    def on_flip(*_args: Any) -> None:
        if pending:
            glFinish()
            now = time.monotonic()
            while pending:
                say("drawn", pending.pop(0), f"{now:.6f}")

    Window.bind(on_flip=on_flip)


def serve_commands(app: Any, handlers: dict[str, Any]) -> None:
    """Answer the bench's stdin commands (`quit` and `handlers`) on a thread."""
    from kivy.clock import Clock

    def commands() -> None:
        for line in sys.stdin:
            word = line.strip()
            if word == "quit":
                Clock.schedule_once(lambda _dt: app.stop(), 0)
                return
            if word in handlers:
                handlers[word]()

    threading.Thread(target=commands, name="bench-commands", daemon=True).start()


def kiosk_child(data_dir: Path) -> int:
    """The real kiosk app; reports each screen's first drawn frame and answers `status`
    (is the hub link up) and `quit` on stdin."""
    from kiosk.__main__ import open_kiosk
    from tapcard.ui.environment import set_kivy_environment

    set_kivy_environment()
    pending: list[str] = []
    app, runtime, reader = open_kiosk(data_dir, "zh", on_view=lambda name, _v: pending.append(name))
    report_frames(pending)
    serve_commands(app, {"status": lambda: say("status", int(bool(runtime.link.connected)))})
    if TRACE:
        trace_gc()
    try:
        app.run()
    finally:
        runtime.stop()
        reader.close()
    say("stopped")
    return 0


def peer_child() -> int:
    """The peer: a bare Kivy app in the same window with the same font, one label whose
    text `tap` and `off` switch between a member's line and the idle prompt. What Kivy,
    SDL and Mesa cost on their own, measured the same way as the kiosk."""
    from tapcard.ui.environment import set_kivy_environment

    set_kivy_environment()
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    from tapcard.ui import kivyapp

    pending: list[str] = []
    texts = {"member": "张** 金卡 Gold · 积分 12,345 · ¥88.00", "idle": "请刷卡 Tap your card"}

    class Peer(App):  # type: ignore[misc]  # kivy ships no type hints
        def build(self) -> Label:
            kivyapp.register_cjk_font()
            kivyapp.flush_each_frame()
            self.label = Label(text=texts["idle"], font_size="30sp")
            Clock.schedule_once(lambda _dt: show("idle"), 0)
            return self.label

    app = Peer()

    def show(name: str) -> None:
        app.label.text = texts[name]
        pending.append(name)

    report_frames(pending)
    serve_commands(
        app,
        {
            "tap": lambda: Clock.schedule_once(lambda _dt: show("member"), 0),
            "off": lambda: Clock.schedule_once(lambda _dt: show("idle"), 0),
        },
    )
    app.run()
    say("stopped")
    return 0


def trace_gc() -> None:
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


class Child:
    """A measured app process (the kiosk or the peer) and its report lines."""

    def __init__(self, *child_args: str) -> None:
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
            [sys.executable, str(Path(__file__).resolve()), *child_args],
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
                raise SystemExit(f"app: no {kind} {arg} within {timeout_s} s") from None
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

    def cpu_s(self) -> float:
        """CPU time (user + system) the process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def idle_cpu_pct(self, seconds: float) -> float:
        """Share of one core the process uses while nobody touches it."""
        before = self.cpu_s()
        time.sleep(seconds)
        return 100 * (self.cpu_s() - before) / seconds

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


def taps(
    child: Child, put: Callable[[], None], take: Callable[[], None], count: int
) -> list[float]:
    """`count` taps: put the card, wait for the member screen drawn, take it away, wait
    for the idle screen drawn. Returns each tap-to-screen in ms."""
    times = []
    for _ in range(count):
        start = time.monotonic()
        put()
        drawn = float(child.expect("drawn", "member")[2])
        if TRACE and (drawn - start) * 1000 > TRACE_SLOW_MS:
            print(f"slow tap {(drawn - start) * 1000:.0f} ms:", *child.seen, flush=True)
        times.append((drawn - start) * 1000)
        take()
        child.expect("drawn", "idle")
    return times


def measure_peer(count: int, idle_s: float) -> dict[str, float]:
    """The bare Kivy app through the same start, idle, `2 * count` taps and memory."""
    peer = Child("--peer-child")
    first = peer.expect("drawn", "idle", START_WAIT_S)
    start_s = float(first[2]) - peer.started
    try:
        idle_cpu = peer.idle_cpu_pct(idle_s)
        rss_idle = peer.anon_rss_mb()
        times = taps(peer, lambda: peer.send("tap"), lambda: peer.send("off"), 2 * count)
        rss = peer.anon_rss_mb()
    finally:
        code = peer.stop()
    if code != 0:
        raise SystemExit(f"peer exited with {code}")
    return {
        "start_s": round(start_s, 3),
        "idle_cpu_pct": round(idle_cpu, 1),
        "anon_rss_mb_idle": round(rss_idle, 1),
        "anon_rss_mb": round(rss, 1),
        "tap_to_screen_p50_ms": round(pct(times, 50), 1),
        "tap_to_screen_p99_ms": round(pct(times, 99), 1),
    }


def pct(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def measure_kiosk(count: int, idle_s: float) -> dict[str, Any]:
    """The kiosk against a hub and broker in this process: start, CPU while idle online,
    `count` taps online, the broker stopped, `count` taps offline, RssAnon on the way."""
    # The hub's rig (SQLAlchemy, Alembic) loads in this process only: the kiosk child
    # must hold what the kiosk holds and nothing of the bench.
    from _rig import make_rig, wait_until

    from tapcard.device.bundle import BUNDLE_FILE
    from tapcard.readers.sim import make_sim_card, send_sim_command

    rig = make_rig(Path(tempfile.mkdtemp(prefix="bench-ui-")))
    rig.device_dir.mkdir(parents=True, exist_ok=True)
    (rig.device_dir / BUNDLE_FILE).write_bytes(rig.bundle.raw)
    socket_path = str(rig.device_dir / "sim.sock")
    card = make_sim_card(
        rig.hub.secrets.issuer_key, MASTER, rig.cards[0], b"\x04\x01\x02\x03", pinned_today()
    )

    def put() -> None:
        send_sim_command(socket_path, card)

    def take() -> None:
        send_sim_command(socket_path, None)

    kiosk = Child("--kiosk-child", str(rig.device_dir))
    first = kiosk.expect("drawn", "idle", START_WAIT_S)
    start_s = float(first[2]) - kiosk.started
    try:
        kiosk.link_is(True, 20)
        idle_cpu = kiosk.idle_cpu_pct(idle_s)  # status checks and heartbeats only
        rss_idle = kiosk.anon_rss_mb()
        online = taps(kiosk, put, take, count)
        rss_online = kiosk.anon_rss_mb()
        rig.broker.stop()
        kiosk.link_is(False, 20)
        offline = taps(kiosk, put, take, count)
        rss = kiosk.anon_rss_mb()
    finally:
        code = kiosk.stop()
        rig.service.stop()
        rig.hub.close()
    wait_until(lambda: kiosk.proc.poll() is not None, 5, "kiosk exit")
    if code != 0:
        raise SystemExit(f"kiosk exited with {code}")
    return {
        "start_s": round(start_s, 3),
        "idle_cpu_pct": round(idle_cpu, 1),
        "anon_rss_mb": round(rss, 1),
        "anon_rss_mb_idle": round(rss_idle, 1),
        "anon_rss_mb_after_online": round(rss_online, 1),
        "tap_to_screen_p99_ms": round(max(pct(online, 99), pct(offline, 99)), 1),
        "tap_to_screen_p50_ms_online": round(pct(online, 50), 1),
        "tap_to_screen_p99_ms_online": round(pct(online, 99), 1),
        "tap_to_screen_max_ms_online": round(max(online), 1),
        "tap_to_screen_p50_ms_offline": round(pct(offline, 50), 1),
        "tap_to_screen_p99_ms_offline": round(pct(offline, 99), 1),
        "tap_to_screen_max_ms_offline": round(max(offline), 1),
        "taps": 2 * count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kiosk-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--peer-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kiosk_child:
        return kiosk_child(Path(args.kiosk_child))
    if args.peer_child:
        return peer_child()
    count = TAPS_QUICK if args.quick else TAPS_FULL
    idle_s = IDLE_SAMPLE_S_QUICK if args.quick else IDLE_SAMPLE_S
    kiosk = measure_kiosk(count, idle_s)
    peer = measure_peer(count, idle_s)
    for way in ("online", "offline"):
        print(
            f"kiosk tap-to-screen {way} ({count} taps): "
            f"p50 {kiosk[f'tap_to_screen_p50_ms_{way}']} ms, "
            f"p99 {kiosk[f'tap_to_screen_p99_ms_{way}']} ms, "
            f"max {kiosk[f'tap_to_screen_max_ms_{way}']} ms"
        )
    print(
        f"peer (bare Kivy label) tap-to-screen ({2 * count} taps): "
        f"p50 {peer['tap_to_screen_p50_ms']} ms, p99 {peer['tap_to_screen_p99_ms']} ms"
    )
    print(f"cold start to idle: kiosk {kiosk['start_s']} s, peer {peer['start_s']} s")
    print(
        f"CPU while idle ({idle_s:.0f} s): kiosk {kiosk['idle_cpu_pct']} %, "
        f"peer {peer['idle_cpu_pct']} % of one core"
    )
    print(
        f"kiosk RssAnon: {kiosk['anon_rss_mb_idle']} MB idle, "
        f"{kiosk['anon_rss_mb_after_online']} MB after {count} taps, "
        f"{kiosk['anon_rss_mb']} MB after {2 * count}; peer: {peer['anon_rss_mb_idle']} MB "
        f"idle, {peer['anon_rss_mb']} MB after {2 * count}"
    )
    from ui_scan import measure_peer_scan, measure_terminal_scan

    scans = SCANS_QUICK if args.quick else SCANS_FULL
    terminal, textinput = measure_terminal_scan(scans), measure_peer_scan(scans)
    for who, figures in (("terminal", terminal), ("peer (bare TextInput)", textinput)):
        print(
            f"{who} scan -> line shown ({scans} scans): p50 {figures['scan_to_line_p50_ms']} ms, "
            f"p99 {figures['scan_to_line_p99_ms']} ms, max {figures['scan_to_line_max_ms']} ms"
        )
    scan: dict[str, Any] = {**terminal, "scans": scans, "peer_bare_textinput": textinput}
    print(json.dumps({**kiosk, "peer_bare_kivy": peer, "terminal_scan": scan}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
