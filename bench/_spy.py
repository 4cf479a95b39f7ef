"""Sampling a running hub with py-spy (in the dev lock) while a bench drives it, and
saying where its time went, by thread and by part of the hot path.

py-spy reads the process from outside, so it sees every thread: paho's network thread
(socket reads, packet parsing, the PUBACKs) as well as the worker's batch. cProfile
would see only the thread it runs in. Each sample is charged to the innermost frame that
belongs to a known part (PARTS, first match from the leaf up); "GIL held" samples only
(`--gil`) count CPU in Python, not time waiting in a syscall.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SAMPLE_RATE_HZ: Final = 250
STOP_WAIT_S: Final = 20.0
# (part, what a frame's "function (file:line)" text contains); checked leaf first.
PARTS: Final = (
    ("Ed25519 verify (PyNaCl)", "nacl/"),
    ("msgspec decode / encode", "msgspec"),
    ("SQLite / psycopg driver", "sqlite3/"),
    ("SQLite / psycopg driver", "psycopg"),
    ("SQLAlchemy core", "sqlalchemy/"),
    ("decide (tapcard.domain)", "tapcard/domain/"),
    ("wire: unseal, seal, results", "tapcard/wire/"),
    ("ledger apply (hub)", "hub/ledger"),
    ("ledger apply (hub)", "hub/posting"),
    ("ledger apply (hub)", "hub/decide"),
    ("ledger apply (hub)", "hub/authority"),
    ("ledger apply (hub)", "hub/member_days"),
    ("router and batching (hub)", "hub/router"),
    ("router and batching (hub)", "hub/service"),
    ("router and batching (hub)", "hub/registry"),
    ("paho receive / send", "paho/"),
    ("socket, ssl, select", "socket.py"),
    ("socket, ssl, select", "ssl.py"),
    ("socket, ssl, select", "selectors.py"),
    ("logging", "logging/"),
)


@dataclass
class Profile:
    samples: int = 0
    by_part: collections.Counter[str] = field(default_factory=collections.Counter)
    by_thread: collections.Counter[str] = field(default_factory=collections.Counter)

    def lines(self) -> list[str]:
        if not self.samples:
            return ["  profile: no samples"]
        out = [f"  profile: {self.samples} samples holding the GIL, by part of the path:"]
        for part, count in self.by_part.most_common():
            out.append(f"    {100 * count / self.samples:5.1f} %  {part}")
        out.append("  by thread:")
        for thread, count in self.by_thread.most_common(4):
            out.append(f"    {100 * count / self.samples:5.1f} %  {thread}")
        return out

    def shares(self) -> dict[str, float]:
        return {p: round(100 * c / self.samples, 1) for p, c in self.by_part.items()}


def _part(frames: list[str]) -> str:
    for frame in reversed(frames):
        for part, marker in PARTS:
            if marker in frame:
                return part
    return "other Python"


def _thread(frames: list[str], stack: str) -> str:
    """paho's loop thread is the one whose stack runs through its loop_forever/_thread_main."""
    if any("_thread_main" in f or "loop_forever" in f for f in frames):
        return "paho network thread"
    if "thread (" in stack:
        return "worker and other threads"
    return "main"


def read(path: Path) -> Profile:
    """A py-spy `--format raw` file: one "frame;frame;... count" line per stack."""
    profile = Profile()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        count = int(count_text)
        profile.samples += count
        profile.by_part[_part(frames)] += count
        profile.by_thread[_thread(frames, stack)] += count
    return profile


class Spy:
    """`with Spy(pid, out):` samples the process until the block ends."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Spy:
        beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not activated
        exe = str(beside) if beside.exists() else shutil.which("py-spy")
        if exe is None:
            raise SystemExit("error: py-spy is not installed (it is in locks/dev.txt)")
        cmd = [exe, "record", "--pid", str(self.pid), "--format", "raw", "--threads"]
        cmd += ["--gil", "--rate", str(SAMPLE_RATE_HZ), "--output", str(self.out)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *_: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self._proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
