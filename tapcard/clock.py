"""The clock: time is an input.

Everything in tapcard that needs the time of day (the hub deciding a sale's campaign
day, a device stamping an intent, a terminal timing a cached login) asks a `Clock` it
was given, never `time.time()` or `date.today()` directly. Programs build theirs once at
their edge with `clock_from_env` and hand it down; tests give a pinned one, so that no
test passes or fails because of the day it runs.

`TAPCARD_CLOCK_SHIFT_MS` shifts every tapcard program's clock by that many milliseconds
from the machine's. The test suite sets it so that hub and device processes it starts
agree with the tests on a pinned date while time still flows (heartbeats, timeouts and
presence keep working). It is for tests and rehearsals, never for a production device.

Two things keep the machine's own clock on purpose: X.509 certificates (OpenSSL in the
broker checks them against the machine's clock) and monotonic timers, which measure
durations, not dates.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tapcard.errors import ValidationError

CLOCK_SHIFT_ENV = "TAPCARD_CLOCK_SHIFT_MS"
# A shift beyond a century is a typo, not a rehearsal.
CLOCK_SHIFT_MS_MAX = 100 * 366 * 24 * 3600 * 1000
MS_PER_S = 1000


class Clock(Protocol):
    """Wall-clock time as the program should believe it."""

    def now_ms(self) -> int:
        """Unix time in milliseconds."""
        ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The machine's clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ShiftedClock:
    """The machine's clock moved by a fixed amount: a pinned day on which time flows."""

    shift_ms: int

    def __post_init__(self) -> None:
        assert abs(self.shift_ms) <= CLOCK_SHIFT_MS_MAX

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.shift_ms

    @classmethod
    def starting_at(cls, moment: dt.datetime) -> ShiftedClock:
        """A clock that reads `moment` now and runs on from there."""
        assert moment.tzinfo is not None, "a pinned moment names its time zone"
        target_ms = int(moment.timestamp() * MS_PER_S)
        return cls(target_ms - time.time_ns() // 1_000_000)


@dataclass(slots=True)
class ManualClock:
    """A clock that moves only when told: for tests that step through time."""

    unix_ms: int

    def now_ms(self) -> int:
        return self.unix_ms

    def advance(self, delta_ms: int) -> None:
        assert delta_ms >= 0, "a clock does not run backwards"
        self.unix_ms += delta_ms


SYSTEM_CLOCK = SystemClock()


def clock_from_env(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock a program starts with: the machine's, unless the environment shifts it."""
    env = os.environ if environ is None else environ
    raw = env.get(CLOCK_SHIFT_ENV, "").strip()
    if not raw:
        return SYSTEM_CLOCK
    try:
        shift_ms = int(raw)
    except ValueError:
        raise ValidationError(f"{CLOCK_SHIFT_ENV} is whole milliseconds, not {raw!r}") from None
    if abs(shift_ms) > CLOCK_SHIFT_MS_MAX:
        raise ValidationError(f"{CLOCK_SHIFT_ENV} shifts by more than a century: {shift_ms}")
    return ShiftedClock(shift_ms)


def utc_date(unix_ms: int) -> dt.date:
    """The UTC calendar day of a moment: the day the ledger books a transfer on."""
    return dt.datetime.fromtimestamp(unix_ms / MS_PER_S, tz=dt.UTC).date()


def local_date(unix_ms: int) -> dt.date:
    """The calendar day of a moment in this machine's time zone: what a person reads."""
    return dt.datetime.fromtimestamp(unix_ms / MS_PER_S).date()


def today(clock: Clock) -> dt.date:
    """The local calendar day the clock reads (what `date.today()` would say)."""
    return local_date(clock.now_ms())
