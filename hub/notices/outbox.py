"""The notices' durable outbox: recorded once, claimed, sent, marked; never lost.

`enqueue` inserts a notice unless its key is there already, so planning an event twice
records one notice. `deliver_due` claims what is due on each configured channel in a
committed transaction of its own (state `sending`), sends outside any transaction, then
marks each `sent`, or `pending` again with a backoff, or `dead` after NOTICE_TRIES_MAX
or a failure that will not pass. A row left `sending` by a process that died is due
again after CLAIM_TIMEOUT_MS and sent with the same key. Each channel sends at most its
rate per minute (counted in the database, so several hub processes share it), and
marketing notices wait while the business time zone is in quiet hours.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from hub import db
from hub.member_schema import sealed_row
from hub.notices.channels import Channel, ChannelName, DeliveryError, Outgoing, Purpose
from tapcard.clock import Clock

log = logging.getLogger(__name__)

NOTICE_TRIES_MAX: Final = 8
BACKOFF_FIRST_MS: Final = 30_000  # then doubling: 30 s, 1 min, 2 min ... about 1 h at the 8th
BACKOFF_MAX_MS: Final = 3_600_000
CLAIM_TIMEOUT_MS: Final = 5 * 60_000  # a claim older than this was a process that died
RATE_PER_MINUTE_DEFAULT: Final = 600
CLAIM_BATCH_MAX: Final = 200
QUIET_FROM_HOUR: Final = 21  # marketing waits from 21:00 ...
QUIET_UNTIL_HOUR: Final = 8  # ... until 08:00, in the business time zone


class NoticeState:
    PENDING: Final = "pending"
    SENDING: Final = "sending"
    SENT: Final = "sent"
    DEAD: Final = "dead"


@dataclass(frozen=True, slots=True)
class NewNotice:
    key: str
    channel: ChannelName
    kind: str
    purpose: Purpose
    address: str
    lang: str
    subject: str
    body: str
    data: Mapping[str, str]
    member_id: int | None = None


def enqueue(conn: Connection, notices: Sequence[NewNotice], now_ms: int) -> int:
    """Record the notices whose key is new; how many were."""
    if not notices:
        return 0
    t = db.notices
    keys = [n.key for n in notices]
    have = set(conn.execute(sa.select(t.c.key).where(t.c.key.in_(keys))).scalars())
    rows = []
    for n in notices:
        if n.key in have:
            continue
        have.add(n.key)
        rows.append(
            {
                "key": n.key,
                "member_id": n.member_id,
                "channel": n.channel.value,
                "kind": n.kind,
                "purpose": n.purpose.value,
                "address": n.address,
                "lang": n.lang,
                "subject": n.subject[:200],
                "body": n.body,
                "data": msgspec.json.encode(dict(n.data)).decode(),
                "state": NoticeState.PENDING,
                "tries": 0,
                "due_ms": now_ms,
                "claimed_ms": 0,
                "created_ms": now_ms,
                "last_error": "",
            }
        )
    # The driver's executemany skips the column types: the address, body and fields are
    # sealed here (hub/notices/schema.py).
    db.bulk_insert(conn, t, [sealed_row(t, row) for row in rows])
    return len(rows)


def in_quiet_hours(now_ms: int, zone: str) -> bool:
    hour = dt.datetime.fromtimestamp(now_ms / 1000, ZoneInfo(zone)).hour
    return hour >= QUIET_FROM_HOUR or hour < QUIET_UNTIL_HOUR


def _claim(
    conn: Connection, channel: ChannelName, now_ms: int, limit: int, quiet: bool
) -> list[Row[Any]]:
    t = db.notices
    due = sa.or_(
        sa.and_(t.c.state == NoticeState.PENDING, t.c.due_ms <= now_ms),
        sa.and_(t.c.state == NoticeState.SENDING, t.c.claimed_ms <= now_ms - CLAIM_TIMEOUT_MS),
    )
    query = sa.select(t).where(t.c.channel == channel.value, due)
    if quiet:
        query = query.where(t.c.purpose != Purpose.MARKETING.value)
    query = query.order_by(t.c.due_ms, t.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # another worker's claim
    rows = conn.execute(query).all()
    if rows:
        conn.execute(
            t.update()
            .where(t.c.id.in_([r.id for r in rows]))
            .values(state=NoticeState.SENDING, claimed_ms=now_ms, tries=t.c.tries + 1)
        )
    return list(rows)


def _sent_last_minute(conn: Connection, channel: ChannelName, now_ms: int) -> int:
    t = db.notices
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                t.c.channel == channel.value,
                t.c.state == NoticeState.SENT,
                t.c.sent_ms > now_ms - 60_000,
            )
        ).scalar_one()
    )


def backoff_ms(tries: int) -> int:
    return int(min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** max(0, tries - 1)))


def _mark(
    conn: Connection, row_id: int, tries: int, error: DeliveryError | None, now_ms: int
) -> str:
    t = db.notices
    if error is None:
        values: dict[str, object] = {"state": NoticeState.SENT, "sent_ms": now_ms, "last_error": ""}
    elif error.transient and tries < NOTICE_TRIES_MAX:
        values = {"state": NoticeState.PENDING, "due_ms": now_ms + backoff_ms(tries)}
        values["last_error"] = str(error)
    else:
        values = {"state": NoticeState.DEAD, "last_error": str(error)}
    conn.execute(t.update().where(t.c.id == row_id).values(**values))
    return str(values["state"])


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


def _outgoing(row: Row[Any]) -> Outgoing:
    data = msgspec.json.decode(str(row.data).encode(), type=dict[str, str])
    member = row.member_id
    return Outgoing(
        key=str(row.key),
        kind=str(row.kind),
        address=str(row.address),
        lang=str(row.lang),
        subject=str(row.subject),
        body=str(row.body),
        data=data,
        member_id=int(member) if isinstance(member, int) else None,
    )


def deliver_due(
    engine: Engine,
    channels: Mapping[ChannelName, Channel],
    clock: Clock,
    zone: str,
    rates: Mapping[ChannelName, int] | None = None,
) -> DeliveryStats:
    """One round: for each channel, claim what is due within its rate, send, mark."""
    stats = DeliveryStats()
    for name, channel in channels.items():
        now_ms = clock.now_ms()
        rate = (rates or {}).get(name, RATE_PER_MINUTE_DEFAULT)
        with engine.begin() as conn:
            allowance = min(CLAIM_BATCH_MAX, rate - _sent_last_minute(conn, name, now_ms))
            rows = (
                _claim(conn, name, now_ms, allowance, in_quiet_hours(now_ms, zone))
                if allowance > 0
                else []
            )
        for row in rows:
            error: DeliveryError | None = None
            try:
                channel.send(_outgoing(row))
            except DeliveryError as exc:
                error = exc
                log.warning("notice %s on %s: %s", row.key, name, exc)
            with engine.begin() as conn:
                state = _mark(
                    conn, int(str(row.id)), int(str(row.tries)) + 1, error, clock.now_ms()
                )
            stats.sent += state == NoticeState.SENT
            stats.retrying += state == NoticeState.PENDING
            stats.dead += state == NoticeState.DEAD
            stats.by_channel[name.value] = stats.by_channel.get(name.value, 0) + (
                state == NoticeState.SENT
            )
    return stats


def replay(conn: Connection, ids: Sequence[int] | None, now_ms: int) -> int:
    """Dead notices due again from now, tries counted afresh (all of them for None)."""
    t = db.notices
    query = t.update().where(t.c.state == NoticeState.DEAD)
    if ids is not None:
        query = query.where(t.c.id.in_(list(ids)))
    done = conn.execute(
        query.values(state=NoticeState.PENDING, tries=0, due_ms=now_ms, last_error="")
    )
    return int(done.rowcount)


def counts(conn: Connection) -> dict[str, int]:
    t = db.notices
    rows = conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all()
    return {str(state): int(n) for state, n in rows}
