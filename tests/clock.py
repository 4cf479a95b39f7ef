"""The test suite's clock: a pinned day on which time still flows.

Every hub, device and app that the tests start, in this process or in a child process,
reads this clock (in-process through `clock_from_env`, children through the variable
that `pin_environment` sets and they inherit). The day is a plain Wednesday: no
sample campaign of a month, a weekend or a birthday runs on it, so the figures the tests
expect hold on whatever day the suite runs. Tests about other days give their own clock.
"""

from __future__ import annotations

import datetime as dt
import os

from tapcard.clock import CLOCK_SHIFT_ENV, ShiftedClock, local_date, utc_date

# 06:00 UTC is 14:00 in Shanghai: the same calendar day in UTC and anywhere from UTC-6
# to UTC+17, so the ledger's UTC day and a person's local day agree.
PINNED_AT = dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC)


def _pinned() -> ShiftedClock:
    # A child process the tests started inherits the parent's shift, so both read the
    # same time; pinning again here would differ by the seconds since the parent began.
    inherited = os.environ.get(CLOCK_SHIFT_ENV)
    if inherited:
        return ShiftedClock(int(inherited))
    return ShiftedClock.starting_at(PINNED_AT)


TEST_CLOCK = _pinned()


def pin_environment() -> None:
    """Make child processes (hub workers, device runtimes, apps) read the test clock."""
    os.environ[CLOCK_SHIFT_ENV] = str(TEST_CLOCK.shift_ms)


def pinned_now_ms() -> int:
    return TEST_CLOCK.now_ms()


def pinned_today() -> dt.date:
    """Today by the test clock, as a person at the counter reads it (local time)."""
    return local_date(TEST_CLOCK.now_ms())


def pinned_utc_today() -> dt.date:
    """Today by the test clock, as the ledger books it (UTC)."""
    return utc_date(TEST_CLOCK.now_ms())
