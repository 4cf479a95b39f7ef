"""The daily expiry job: book each member's points past their last day as an expiry
transfer (debit the member's points, credit s:points_expired), in chunks of members.

Run on day T it expires what could be spent until T-1 at the latest. Who has points due
comes from one set-based query per chunk over the buckets' index; how many follows
tapcard.domain.expiry (balance minus what is kept after T-1), so a second run the same
day finds nothing to book, and the transfer id is derived from the member and the day,
so even two runs at once cannot book one member's expiry twice.

A frozen member keeps the points due: a terminated member, or one whose card has
expired and who holds no usable card (renewal thaws them: hub/point_buckets.py). The
buckets a run has booked can no longer matter and are deleted in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.posting import Journal, Transfer
from tapcard.domain.ledger import member_account, system_account
from tapcard.domain.model import Asset, MemberStatus, SystemAccount, TxKind
from tapcard.domain.rules import RuleSet

EXPIRY_CHUNK_MEMBERS = 20_000
# SQLite's page cache for the job's connection: a chunk writes 20,000 transfers into
# indexes far larger than the default 2 MB cache, which then thrashes.
SQLITE_CACHE_KIB = 128 * 1024  # one transaction: ingest waits at most this long on a lock
ACTOR = "expiry"
# An expiry's transfer id is a version-8 UUID made of this prefix, the day and the member:
# the same member and day always give the same id (uuid5 costs 6x more per member).
_TX_PREFIX = 0x7E1F_0000 << 96
_UUID_V8_BITS = (0x8 << 76) | (0b10 << 62)
_S_EXPIRED = system_account(SystemAccount.POINTS_EXPIRED)
MEMBER_ID_LIMIT = 1 << 40  # the id's low 40 bits hold the member


def _tx_id(day: int, member_id: int) -> str:
    return str(uuid.UUID(int=_TX_PREFIX | _UUID_V8_BITS | (day << 40) | member_id))


Progress = Callable[[int, int], None]  # (members done, members due)

# Members with a bucket due by :due in [:lo, :hi], their points balance and what they
# keep after :due; frozen members left out (see the module). Our own text, no input.
_DUE_SQL = """
SELECT d.member_id, COALESCE(a.balance, 0),
  COALESCE((SELECT SUM(k.points) FROM point_buckets k
            WHERE k.member_id = d.member_id AND k.expires_on > :due), 0)
FROM (SELECT DISTINCT member_id FROM point_buckets
      WHERE expires_on <= :due AND member_id BETWEEN :lo AND :hi) d
JOIN members m ON m.id = d.member_id
LEFT JOIN accounts a ON a.member_id = d.member_id AND a.asset = 'points'
WHERE m.state = :active
  AND NOT (EXISTS (SELECT 1 FROM cards c WHERE c.member_id = d.member_id
                   AND c.state IN ('active', 'expired') AND c.expires_on < :today)
           AND NOT EXISTS (SELECT 1 FROM cards c WHERE c.member_id = d.member_id
                           AND c.state = 'active' AND c.expires_on >= :today))
ORDER BY d.member_id
"""

# The buckets due of the members just booked (or with nothing left in them).
_PRUNE_SQLITE_SQL = """DELETE FROM point_buckets WHERE expires_on <= ?
AND member_id IN (SELECT value FROM json_each(?))"""
_PRUNE_PG_SQL = "DELETE FROM point_buckets WHERE expires_on <= %s AND member_id = ANY(%s)"

_DEBIT_SQLITE_SQL = "UPDATE accounts SET balance = balance - ? WHERE code = ?"
_DEBIT_PG_SQL = """UPDATE accounts SET balance = accounts.balance - d.points
FROM unnest(%s::text[], %s::bigint[]) AS d(code, points) WHERE accounts.code = d.code"""


@dataclass(slots=True)
class ExpiryReport:
    day: dt.date
    members: int = 0  # members whose points expired
    points: int = 0
    pruned: int = 0  # members whose buckets due were deleted (booked, or nothing left)
    tx_ids: list[str] = field(default_factory=list)


def due_count(conn: Connection, today: dt.date) -> int:
    """How many members hold a bucket past its last day (frozen ones included)."""
    b = db.point_buckets
    query = sa.select(sa.func.count(sa.distinct(b.c.member_id))).where(b.c.expires_on < today)
    return int(conn.execute(query).scalar() or 0)


def _next_range(
    conn: Connection, today: dt.date, after: int, chunk: int
) -> tuple[int, int, int] | None:
    """The first and last member id of the next `chunk` members with buckets due: the
    job walks the members by key, never holding all their ids."""
    b = db.point_buckets
    ids = (
        sa.select(b.c.member_id)
        .where(b.c.member_id > after, b.c.expires_on < today)
        .group_by(b.c.member_id)
        .order_by(b.c.member_id)
        .limit(chunk)
        .subquery()
    )
    col = ids.c.member_id
    lo, hi, n = conn.execute(sa.select(sa.func.min(col), sa.func.max(col), sa.func.count())).one()
    return None if lo is None else (int(lo), int(hi), int(n))


def preview_expiry(
    engine: Engine, today: dt.date, chunk: int = EXPIRY_CHUNK_MEMBERS
) -> tuple[int, int]:
    """(members, points) a run on `today` would book, booking nothing: what the CLI shows
    before it is told to go ahead."""
    members = points = 0
    with engine.connect() as conn:
        after = 0
        while (found := _next_range(conn, today, after, chunk)) is not None:
            lo, after, _ = found
            for n in _expiring(conn, today, lo, after).values():
                members, points = members + (n > 0), points + n
    return members, points


def _expiring(conn: Connection, today: dt.date, lo: int, hi: int) -> dict[int, int]:
    """Member -> points that lapsed before `today`, for the unfrozen members in [lo, hi]
    with a bucket due (0: due buckets, nothing left in them)."""
    due = today - dt.timedelta(days=1)
    params = {"due": due, "today": today, "lo": lo, "hi": hi, "active": MemberStatus.ACTIVE.value}
    rows = conn.execute(sa.text(_DUE_SQL), params).all()
    return {int(m): max(0, int(bal) - int(kept)) for m, bal, kept in rows}


def run_expiry(
    engine: Engine,
    rules: RuleSet,
    today: dt.date,
    progress: Progress | None = None,
    chunk: int = EXPIRY_CHUNK_MEMBERS,
) -> ExpiryReport:
    """Book the expiry of every member's points due before `today`, chunk by chunk,
    each chunk its own transaction (`engine` is the hub's writer)."""
    report = ExpiryReport(today)
    with engine.connect() as conn:
        total = due_count(conn, today)
    after = done = 0
    while True:
        with engine.begin() as conn:
            if db.is_sqlite(conn):
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            found = _next_range(conn, today, after, chunk)
            if found is None:
                return report
            lo, after, n = found
            _expire_chunk(conn, rules, today, lo, after, report)
        done += n
        if progress is not None:
            progress(min(done, total), total)


def _expire_chunk(
    conn: Connection, rules: RuleSet, today: dt.date, lo: int, hi: int, report: ExpiryReport
) -> None:
    if conn.dialect.name == "postgresql":  # the ledger locks members in id order too
        conn.execute(
            sa.select(db.members.c.id)
            .where(db.members.c.id.between(lo, hi))
            .order_by(db.members.c.id)
            .with_for_update()
        )
    due = today - dt.timedelta(days=1)
    expiring = list(_expiring(conn, today, lo, hi).items())
    _book(conn, rules, due, [(m, n) for m, n in expiring if n > 0], report)
    if not expiring:
        return
    # One statement for the chunk, its members as one array: no per-row round trip.
    members = [m for m, _ in expiring]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PRUNE_PG_SQL, (due, members))
    else:
        conn.exec_driver_sql(_PRUNE_SQLITE_SQL, (due, json.dumps(members)))
    report.pruned += len(expiring)


def _book(
    conn: Connection,
    rules: RuleSet,
    due: dt.date,
    expiring: Sequence[tuple[int, int]],
    report: ExpiryReport,
) -> None:
    if not expiring:
        return
    now = db.now_ms(conn)
    day = due.toordinal()  # < 2**22, clear of the version bits at 76..79 after the shift
    on = due.isoformat()
    template = Transfer(
        tx_id="",
        kind=TxKind.EXPIRY,
        member_id=0,
        rules_version=rules.version,
        created_ms=now,
        applied_ms=now,
        actor=ACTOR,
        detail=f'{{"expired_on": "{on}"}}',
    )
    # The id is uuid.UUID(int=_TX_PREFIX | _UUID_V8_BITS | day << 40 | member) in text,
    # the member in its last 10 hex digits: formatted here, 5x cheaper than the UUID.
    head, low = _tx_id(day, 0)[:24], (day & 0xFF) << 40
    moves = [
        (f"{head}{low | member_id:012x}", member_id, points, f"{points} points expired on {on}")
        for member_id, points in expiring
    ]
    assert expiring[-1][0] < MEMBER_ID_LIMIT and moves[-1][0] == _tx_id(day, expiring[-1][0])
    journal = Journal()
    journal.post_moves(template, Asset.POINTS, _S_EXPIRED, moves)
    report.tx_ids += [tx_id for tx_id, *_ in moves]
    journal.insert(conn)
    # Only the points account moves: a relative update per member, never the member row.
    # PostgreSQL: one UPDATE ... FROM the chunk's arrays (a statement per row cost 9 s per
    # 50,000 on the server); SQLite: executemany, cheaper there than a join on json_each.
    codes = [member_account(m, Asset.POINTS) for m, _ in expiring]
    amounts = [points for _, points in expiring]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_DEBIT_PG_SQL, (codes, amounts))
    else:
        conn.exec_driver_sql(_DEBIT_SQLITE_SQL, list(zip(amounts, codes, strict=True)))
    journal.settle(conn, [])
    report.members += len(expiring)
    report.points += sum(points for _, points in expiring)
