"""What the benchmarks that time a job in a fresh process share: the process's peak
resident memory, and running this script again as a child that prints its figures as
one JSON line last."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), 0 where /proc has none."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measured(script: str, what: str, url: str, timeout_s: float) -> dict[str, Any]:
    """Run `script --child what --url url` in a fresh process; its last line's figures."""
    out = subprocess.run(
        [sys.executable, script, "--child", what, "--url", url],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if out.returncode != 0:  # the child's own error, not only its exit status
        raise RuntimeError(f"{script} --child {what} failed:\n{out.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures
