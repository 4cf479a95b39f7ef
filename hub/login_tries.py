"""Failed-login counters with a lock: one way of counting for staff PINs and staff cards.

A failures table holds one row per refused login, with the time, the subject tried (a
staff id or a staff card id) and the device it was tried at. A subject, or a device,
with as many refusals within the window as its limit is locked until the lockout has
passed since the last of them. The table is pruned to the window on each new refusal,
so every count here reads a bounded set through the (subject, at_ms) and
(device_id, at_ms) indexes.

The limits are handed in at each call, not kept here, so that each caller's module
constants stay the one place its limits are written (and tests may shorten them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db

MS_PER_S: Final = 1000
DEVICE_KIND: Final = "device"  # the Lockout kind of a device's lock


@dataclass(frozen=True, slots=True)
class TryLimits:
    subject_max: int  # refusals of one subject within the window
    device_max: int  # refusals at one device, any subject, within the window
    window_s: int
    lockout_s: int  # after the last refusal that reached a limit


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lock in force: `kind` is the subject's kind (staff, card) or "device"."""

    kind: str
    subject: str
    until_ms: int


@dataclass(frozen=True, slots=True)
class TryLog:
    """A failures table: `subject_column` names what was tried, `subject_kind` says what
    that is in a Lockout."""

    table_name: str
    subject_column: str
    subject_kind: str

    def _table(self) -> sa.Table:
        return db.metadata.tables[self.table_name]

    def _counted(
        self, t: sa.Table, limits: TryLimits
    ) -> tuple[tuple[str, sa.Column[str], int], ...]:
        return (
            (self.subject_kind, t.c[self.subject_column], limits.subject_max),
            (DEVICE_KIND, t.c.device_id, limits.device_max),
        )

    def locked_until(
        self, conn: Connection, subject: str, device_id: str, now_ms: int, limits: TryLimits
    ) -> int:
        """When logins of this subject or at this device open again (0: they are open).
        Two indexed counts and no hashing, so a locked try costs next to nothing."""
        t = self._table()
        since = now_ms - limits.window_s * MS_PER_S
        until = 0
        for (_kind, column, limit), value in zip(
            self._counted(t, limits), (subject, device_id), strict=True
        ):
            count, last = conn.execute(
                sa.select(sa.func.count(), sa.func.max(t.c.at_ms)).where(
                    column == value, t.c.at_ms > since
                )
            ).one()
            if count >= limit and last is not None:
                until = max(until, int(last) + limits.lockout_s * MS_PER_S)
        return until if until > now_ms else 0

    def record_failure(
        self, conn: Connection, subject: str, device_id: str, now_ms: int, limits: TryLimits
    ) -> int:
        """Count a refusal (rows older than the window go); the lock's end it caused, or 0."""
        t = self._table()
        conn.execute(t.delete().where(t.c.at_ms <= now_ms - limits.window_s * MS_PER_S))
        conn.execute(
            t.insert().values(
                {"at_ms": now_ms, self.subject_column: subject, "device_id": device_id}
            )
        )
        return self.locked_until(conn, subject, device_id, now_ms, limits)

    def clear(self, conn: Connection, subject: str) -> None:
        """A good login: this subject's count starts again (the device's stays)."""
        t = self._table()
        conn.execute(t.delete().where(t.c[self.subject_column] == subject))

    def lockouts(self, conn: Connection, now_ms: int, limits: TryLimits) -> list[Lockout]:
        """Every subject and device locked now, subjects first, each in order."""
        t = self._table()
        since = now_ms - limits.window_s * MS_PER_S
        found = []
        for kind, column, limit in self._counted(t, limits):
            rows = conn.execute(
                sa.select(column, sa.func.max(t.c.at_ms))
                .where(t.c.at_ms > since)
                .group_by(column)
                .having(sa.func.count() >= limit)
                .order_by(column)
            ).all()
            for subject, last in rows:
                until_ms = int(last) + limits.lockout_s * MS_PER_S
                if until_ms > now_ms:
                    found.append(Lockout(kind, str(subject), until_ms))
        return found
