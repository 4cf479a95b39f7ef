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

from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.staff_schema import CARD_FAILURES_TABLE

CARD_TRIES_MAX: Final = 5  # refused logins of one staff card id within the window
DEVICE_CARD_TRIES_MAX: Final = 20  # refused card logins at one device within the window
CARD_TRIES_WINDOW_S: Final = 15 * 60
CARD_LOCKOUT_S: Final = 15 * 60  # after the last refusal that reached a limit
MS_PER_S: Final = 1000
assert DEVICE_CARD_TRIES_MAX >= CARD_TRIES_MAX >= 3


def _table() -> sa.Table:
    return db.metadata.tables[CARD_FAILURES_TABLE]


def _limits(
    t: sa.Table, card_id: str, device_id: str
) -> tuple[tuple[sa.ColumnElement[bool], int], ...]:
    return (
        (t.c.card_id == card_id, CARD_TRIES_MAX),
        (t.c.device_id == device_id, DEVICE_CARD_TRIES_MAX),
    )


def card_locked_until(conn: Connection, card_id: str, device_id: str, now_ms: int) -> int:
    """When card logins of this card or at this device open again (0: they are open)."""
    t = _table()
    since = now_ms - CARD_TRIES_WINDOW_S * MS_PER_S
    until = 0
    for where, limit in _limits(t, card_id, device_id):
        count, last = conn.execute(
            sa.select(sa.func.count(), sa.func.max(t.c.at_ms)).where(where, t.c.at_ms > since)
        ).one()
        if count >= limit and last is not None:
            until = max(until, int(last) + CARD_LOCKOUT_S * MS_PER_S)
    return until if until > now_ms else 0


def record_card_failure(conn: Connection, card_id: str, device_id: str, now_ms: int) -> int:
    """Count a refused card login (tries older than the window go); the lock's end it
    caused, or 0."""
    t = _table()
    conn.execute(t.delete().where(t.c.at_ms <= now_ms - CARD_TRIES_WINDOW_S * MS_PER_S))
    conn.execute(t.insert().values(at_ms=now_ms, card_id=card_id, device_id=device_id))
    return card_locked_until(conn, card_id, device_id, now_ms)


def clear_card_failures(conn: Connection, card_id: str) -> None:
    t = _table()
    conn.execute(t.delete().where(t.c.card_id == card_id))


@dataclass(frozen=True, slots=True)
class CardLockout:
    """A card login lock in force: `subject` is a staff card id or a device id."""

    kind: str  # card | device
    subject: str
    until_ms: int


def card_lockouts(conn: Connection, now_ms: int) -> list[CardLockout]:
    """Every card id and device whose card logins are locked now (a bounded read: the
    table is pruned to the window)."""
    t = _table()
    since = now_ms - CARD_TRIES_WINDOW_S * MS_PER_S
    found = []
    for kind, column, limit in (
        ("card", t.c.card_id, CARD_TRIES_MAX),
        ("device", t.c.device_id, DEVICE_CARD_TRIES_MAX),
    ):
        rows = conn.execute(
            sa.select(column, sa.func.max(t.c.at_ms))
            .where(t.c.at_ms > since)
            .group_by(column)
            .having(sa.func.count() >= limit)
            .order_by(column)
        ).all()
        for subject, last in rows:
            until_ms = int(last) + CARD_LOCKOUT_S * MS_PER_S
            if until_ms > now_ms:
                found.append(CardLockout(kind, str(subject), until_ms))
    return found
