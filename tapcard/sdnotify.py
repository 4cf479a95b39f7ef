"""sd_notify(3) without libsystemd: READY, STATUS, STOPPING and WATCHDOG pings to systemd.

Outside systemd ($NOTIFY_SOCKET unset) every call is a no-op, so programs call it
unconditionally. A service with `Type=notify` is started when it says READY=1; with
`WatchdogSec=` systemd sets $WATCHDOG_USEC and restarts the service when no WATCHDOG=1
arrives within it. Programs ping from the loop whose progress matters (the hub's ingest
worker, the device link's worker, the kiosk's UI clock), never from a timer thread of its
own, so a stalled loop stops the pings.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Final

WATCHDOG_FRACTION: Final = 0.5  # ping at half the period, as sd_watchdog_enabled(3) advises
assert 0 < WATCHDOG_FRACTION < 1


def _address() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return None
    if path.startswith("@"):  # abstract namespace socket
        return "\0" + path[1:]
    return path


def notify(state: str) -> bool:
    """Send one notification ("READY=1", "WATCHDOG=1", "STATUS=..."); False when not
    under systemd or the socket is gone (a notification is never worth a crash)."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_period_s() -> float | None:
    """The watchdog period systemd asked for, when it is meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Rate-limited WATCHDOG=1 pings: call `ping()` from every turn of the watched loop;
    it sends at most once per half period. Thread-safe, cheap when disabled."""

    def __init__(self, period_s: float | None = None) -> None:
        self.period_s = period_s if period_s is not None else watchdog_period_s()
        self._next = 0.0
        self._lock = threading.Lock()
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.period_s is not None

    def ping(self) -> None:
        if self.period_s is None:
            return
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.period_s * WATCHDOG_FRACTION
        if notify("WATCHDOG=1"):
            self.sent += 1
