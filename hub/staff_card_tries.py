"""Try limits of staff card logins, per card and per device, like the PIN's.

A staff card login names a card the terminal says it verified; the hub refuses one
that is not the staff member's, is on the deny list or names no active staff member
at the branch. Each refusal counts against the card id and the device. CARD_TRIES_MAX
refusals of one card, or DEVICE_CARD_TRIES_MAX at one device (any card: someone
trying made-up or copied cards at one till), within CARD_TRIES_WINDOW_S lock card
logins of that card, or at that device, for CARD_LOCKOUT_S after the last one. A
locked login is refused before anything else is looked at, and HQ sees the lock as a
`card_lock` alert (hub/web/alerts.py). A good card login clears its card's count,
never the device's.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.engine import Connection

from hub.login_tries import Lockout, TryLimits, TryLog
from hub.staff_schema import CARD_FAILURES_TABLE

CARD_TRIES_MAX: Final = 5  # refused logins of one staff card id within the window
DEVICE_CARD_TRIES_MAX: Final = 20  # refused card logins at one device within the window
CARD_TRIES_WINDOW_S: Final = 15 * 60
CARD_LOCKOUT_S: Final = 15 * 60  # after the last refusal that reached a limit
assert DEVICE_CARD_TRIES_MAX >= CARD_TRIES_MAX >= 3

CARD_TRIES: Final = TryLog(CARD_FAILURES_TABLE, "card_id", "card")
CardLockout = Lockout  # a card login lock in force: kind "card" or "device"


def _limits() -> TryLimits:
    # Read at each call: the module's constants are the one place the limits are set.
    return TryLimits(CARD_TRIES_MAX, DEVICE_CARD_TRIES_MAX, CARD_TRIES_WINDOW_S, CARD_LOCKOUT_S)


def card_locked_until(conn: Connection, card_id: str, device_id: str, now_ms: int) -> int:
    """When card logins of this card or at this device open again (0: they are open)."""
    return CARD_TRIES.locked_until(conn, card_id, device_id, now_ms, _limits())


def record_card_failure(conn: Connection, card_id: str, device_id: str, now_ms: int) -> int:
    """Count a refused card login; the lock's end it caused, or 0."""
    return CARD_TRIES.record_failure(conn, card_id, device_id, now_ms, _limits())


def clear_card_failures(conn: Connection, card_id: str) -> None:
    CARD_TRIES.clear(conn, card_id)


def card_lockouts(conn: Connection, now_ms: int) -> list[Lockout]:
    """Every card id and device whose card logins are locked now."""
    return CARD_TRIES.lockouts(conn, now_ms, _limits())
