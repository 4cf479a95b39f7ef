"""Time is an input: one clock, given to whoever needs the date.

Scenario: an engineer writes `date.today()` in a hub module "just for a default". The
suite pins its own date, so nothing fails on the day they write it; on 1 December it
would, because December doubles the sample points. The source check below fails first,
with file:line, for every direct read of the machine's clock outside `tapcard.clock`
and the few places that must follow the machine's clock (certificates, file names).
"""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tapcard.clock import (
    CLOCK_SHIFT_ENV,
    SYSTEM_CLOCK,
    ManualClock,
    ShiftedClock,
    clock_from_env,
    utc_date,
)
from tapcard.errors import ValidationError
from tests.clock import PINNED_AT, TEST_CLOCK, pinned_today

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("tapcard", "hub", "kiosk", "terminal")
# (module attribute chain) that reads the machine's clock
WALL_READS = {("time", "time"), ("time", "time_ns"), ("date", "today"), ("datetime", "now")}
WALL_READS |= {("datetime", "utcnow"), ("datetime", "today")}
# Files allowed to read the machine's clock, and why.
MACHINE_CLOCK_FILES = {
    "tapcard/clock.py": "the one place that reads it",
    "hub/deploy/pki.py": "OpenSSL checks certificates against the machine's clock",
    "tapcard/device/bundle.py": "the same certificates, checked when provisioning",
    "hub/deploy/backup.py": "backup file names, beside the machine's other files",
}


def _wall_reads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if (name, node.func.attr) in WALL_READS:
            lines.append(node.lineno)
    return lines


def test_only_the_clock_reads_the_machine_clock() -> None:
    found = []
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in MACHINE_CLOCK_FILES:
                continue
            found += [f"{rel}:{line}" for line in _wall_reads(path)]
    assert not found, "read the time from a Clock (tapcard.clock), not directly: " + ", ".join(
        found
    )


def test_the_check_sees_each_kind_of_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time, datetime as dt\n"
        "a = time.time()\nb = dt.date.today()\nc = dt.datetime.now(dt.UTC)\n"
        "d = time.monotonic()\n"
    )
    assert _wall_reads(sample) == [2, 3, 4]


def test_the_suite_runs_on_its_pinned_day() -> None:
    assert pinned_today() == PINNED_AT.date()
    assert abs(TEST_CLOCK.now_ms() - PINNED_AT.timestamp() * 1000) < 24 * 3600 * 1000
    # and the processes it starts read the same clock
    assert clock_from_env() == TEST_CLOCK


def test_a_shifted_clock_runs_on_from_its_moment() -> None:
    moment = dt.datetime(2031, 6, 15, 9, 30, tzinfo=dt.UTC)
    clock = ShiftedClock.starting_at(moment)
    first = clock.now_ms()
    assert abs(first - moment.timestamp() * 1000) < 1_000
    assert utc_date(first) == dt.date(2031, 6, 15)
    assert clock.now_ms() >= first


def test_a_manual_clock_moves_only_forward_when_told() -> None:
    clock = ManualClock(1_000)
    clock.advance(500)
    assert clock.now_ms() == 1_500
    with pytest.raises(AssertionError):
        clock.advance(-1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", SYSTEM_CLOCK), ("  ", SYSTEM_CLOCK), ("-3600000", ShiftedClock(-3_600_000))],
)
def test_the_environment_names_the_clock(raw: str, expected: object) -> None:
    assert clock_from_env({CLOCK_SHIFT_ENV: raw}) == expected
    assert clock_from_env({}) == SYSTEM_CLOCK


@pytest.mark.parametrize("raw", ["tomorrow", "1.5", str(10**20)])
def test_a_bad_shift_is_a_clear_error(raw: str) -> None:
    with pytest.raises(ValidationError, match=CLOCK_SHIFT_ENV):
        clock_from_env({CLOCK_SHIFT_ENV: raw})


def test_a_bad_shift_stops_the_cli_with_one_line() -> None:
    env = {CLOCK_SHIFT_ENV: "tomorrow", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "from launcher.cli import main; raise SystemExit(main())", "device"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"tapcard: {CLOCK_SHIFT_ENV} is whole milliseconds, not 'tomorrow'"
    ]
