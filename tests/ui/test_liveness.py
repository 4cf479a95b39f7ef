"""A kiosk or terminal feeds systemd's watchdog only while both of its loops turn.

Scenario: under systemd (a notify socket and WATCHDOG_USEC), the app's UI tick says
READY once and pings the watchdog while the card watcher's reader loop turns; when the
reader loop stalls, the pings stop, so systemd restarts the app; STOPPING on the way out.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tapcard.readers.sim import SimReader
from tapcard.ui.worker import WATCHER_STALL_S, AppLiveness, CardWatcher


def _received(sock: socket.socket) -> list[str]:
    seen = []
    while True:
        try:
            seen.append(sock.recv(4096).decode())
        except BlockingIOError:
            return seen


def test_pings_only_while_the_reader_loop_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "2000")  # 2 ms: every tick may ping
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    reader = SimReader()
    watcher = CardWatcher(reader, lambda _raw: "", lambda _tap: None, lambda: None, lambda fn: fn())
    liveness = AppLiveness()
    try:
        liveness.tick(watcher)
        time.sleep(0.01)
        liveness.tick(watcher)
        assert _received(sock) == ["READY=1\nSTATUS=ui running", "WATCHDOG=1", "WATCHDOG=1"]
        watcher.stop()  # the reader loop goes silent...
        watcher.turn_at = time.monotonic() - WATCHER_STALL_S - 1  # ...for longer than allowed
        time.sleep(0.01)
        liveness.tick(watcher)
        assert _received(sock) == []
        liveness.stopping()
        assert _received(sock) == ["STOPPING=1"]
    finally:
        reader.close()
        sock.close()
