"""The device's money-bearing state in SQLite (WAL, synchronous=FULL).

One file holds the outbox of signed intents (the exact bytes that were signed), the
per-device sequence counter, the offline spend counters and the cached card snapshots.
A sequence number is allocated in the same database transaction that inserts its outbox
row and bumps the offline counters, so a power cut leaves either all of it or none:
nothing the screen said was done is lost, and no sequence number is ever used twice.

All access goes through one connection guarded by a lock, so callers on a UI worker
thread and the link's sender thread can share it. Any SQLite failure (full disk, I/O
error, a locked or corrupt file) is raised as `StoreError`; a failed transaction is
rolled back and leaves what was committed before untouched.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from tapcard.device.intents import SealedIntent
from tapcard.errors import TapcardError
from tapcard.files import private_sqlite
from tapcard.wire import messages as m

STORE_FILE: Final = "device.sqlite3"
BUSY_TIMEOUT_MS: Final = 5_000
# Answered entries are kept for inspection and pruned beyond this many (oldest first).
DONE_KEEP_MAX: Final = 20_000
PENDING_FETCH_MAX: Final = 1_000  # rows the sender reads at once
SNAPSHOTS_MAX: Final = 50_000  # cached cards; the least recently updated go first
SEQ_KEY: Final = "seq"
DEAD_LETTERS_LISTED_MAX: Final = 100


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An intent the hub set aside (Reason.SET_ASIDE): never sent again."""

    tx_id: str
    seq: int
    card_id: str
    result: str  # the hub's answer, JSON
    at_ms: int


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY CHECK (seq >= 1),
    tx_id TEXT NOT NULL UNIQUE,
    card_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    offline INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    result TEXT,
    done_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, seq);
CREATE TABLE IF NOT EXISTS counters (
    day TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('card', 'device')),
    key TEXT NOT NULL,
    points INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
    cents INTEGER NOT NULL DEFAULT 0 CHECK (cents >= 0),
    PRIMARY KEY (day, scope, key)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    tx_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    card_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    result TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    card_id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    as_of_ms INTEGER NOT NULL
);
"""

_snapshot_decoder = msgspec.json.Decoder(m.Snapshot)


class StoreError(TapcardError):
    """The device's local database failed (full disk, I/O error); nothing was changed."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    tx_id: str
    card_id: str
    topic: str
    payload: bytes
    created_ms: int
    offline: bool


@dataclass(frozen=True, slots=True)
class Spent:
    """Offline amounts to add to the day's counters with an outbox row."""

    day: str  # ISO date, device local time
    card_id: str
    points: int = 0
    cents: int = 0


@dataclass(frozen=True, slots=True)
class DayCounters:
    card_points: int
    card_cents: int
    device_cents: int


PAGE_BYTES: Final = 1024


class DeviceStore:
    def __init__(self, data_dir: Path) -> None:
        # The outbox holds signed intents and card ids: private, like the bundle's key.
        self.path = private_sqlite(data_dir / STORE_FILE)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
            # Small pages halve the bytes each commit writes to the SD card (a WAL frame
            # is a whole page); it only takes effect on a new file, before WAL mode.
            self._db.execute(f"PRAGMA page_size={PAGE_BYTES}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"device store {self.path} cannot be opened: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction; any SQLite error rolls back and becomes StoreError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # SQLite may have rolled back already (SQLITE_FULL does): keep the
                    # original error, not "no transaction is active".
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"device store failed: {exc}") from None

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"device store failed: {exc}") from None

    # --- outbox ------------------------------------------------------------------

    def append(
        self,
        make: Callable[[int], SealedIntent],
        spent: Spent | None,
        depth_max: int,
        on_full: Callable[[int], Exception],
    ) -> SealedIntent:
        """Allocate the next seq, seal the intent with it and store both, atomically."""
        with self._tx() as db:
            depth = _scalar(db, "SELECT count(*) FROM outbox WHERE state = 'pending'")
            if depth >= depth_max:
                raise on_full(depth)
            seq = _scalar(db, "SELECT value FROM meta WHERE key = ?", (SEQ_KEY,)) + 1
            sealed = make(seq)
            assert sealed.seq == seq
            intent = sealed.intent
            db.execute(
                "INSERT INTO outbox (seq, tx_id, card_id, topic, payload, created_ms, offline,"
                " state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                (
                    seq,
                    str(sealed.tx_id),
                    intent.card_id,
                    sealed.topic,
                    sealed.payload,
                    intent.created_ms,
                    int(intent.offline),
                ),
            )
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SEQ_KEY, seq),
            )
            if spent is not None:
                _add_spent(db, spent)
        return sealed

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        assert 0 < limit <= PENDING_FETCH_MAX
        rows = self._read(
            "SELECT seq, tx_id, card_id, topic, payload, created_ms, offline FROM outbox"
            " WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            OutboxRow(
                int(r[0]), str(r[1]), str(r[2]), str(r[3]), bytes(r[4]), int(r[5]), bool(r[6])
            )
            for r in rows
        ]

    def mark_done(
        self, results: Sequence[tuple[str, str]], now_ms: int, dead: Collection[str] = ()
    ) -> list[str]:
        """Mark entries answered by the hub: (tx_id, result JSON). Returns those that
        were pending (a duplicate answer changes nothing). Those in `dead` (the hub set
        them aside) are copied to the dead-letter list too, which pruning never touches."""
        changed: list[str] = []
        with self._tx() as db:
            for tx_id, result_json in results:
                cursor = db.execute(
                    "UPDATE outbox SET state = 'done', result = ?, done_ms = ?"
                    " WHERE tx_id = ? AND state = 'pending'",
                    (result_json, now_ms, tx_id),
                )
                if cursor.rowcount == 1:
                    changed.append(tx_id)
                if tx_id in dead:
                    db.execute(
                        "INSERT OR IGNORE INTO dead_letters"
                        " SELECT tx_id, seq, card_id, payload, ?, ? FROM outbox WHERE tx_id = ?",
                        (result_json, now_ms, tx_id),
                    )
            if changed:
                _prune_done(db)
        return changed

    def reopen_from(self, from_seq: int) -> tuple[int, int]:
        """Make answered entries from `from_seq` on pending again (the hub was restored
        from an older backup). Returns (reopened, oldest kept seq): entries pruned
        beyond DONE_KEEP_MAX can no longer be sent."""
        assert from_seq >= 1
        with self._tx() as db:
            reopened = db.execute(
                "UPDATE outbox SET state = 'pending', result = NULL, done_ms = NULL"
                " WHERE state = 'done' AND seq >= ?",
                (from_seq,),
            ).rowcount
            oldest = _scalar(db, "SELECT coalesce(min(seq), 0) FROM outbox")
        return int(reopened), oldest

    def dead_letters(self, limit: int = DEAD_LETTERS_LISTED_MAX) -> list[DeadLetter]:
        """The intents the hub set aside, oldest first (kept until an operator acts)."""
        rows = self._read(
            "SELECT tx_id, seq, card_id, result, at_ms FROM dead_letters ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [DeadLetter(str(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]

    def dead_letter_count(self) -> int:
        return int(self._read("SELECT count(*) FROM dead_letters")[0][0])

    def clear_dead_letters(self, tx_ids: Collection[str] | None = None) -> int:
        """Drop dead letters an operator has dealt with (all of them for None); how many
        went. The hub keeps its own copy of each set-aside answer, so nothing is lost."""
        with self._tx() as db:
            if tx_ids is None:
                return int(db.execute("DELETE FROM dead_letters").rowcount)
            return sum(
                int(db.execute("DELETE FROM dead_letters WHERE tx_id = ?", (t,)).rowcount)
                for t in tx_ids
            )

    def result_of(self, tx_id: str) -> str | None:
        rows = self._read("SELECT result FROM outbox WHERE tx_id = ?", (tx_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def depth(self) -> int:
        rows = self._read("SELECT count(*) FROM outbox WHERE state = 'pending'")
        return int(rows[0][0])

    def oldest_pending_ms(self) -> int | None:
        rows = self._read("SELECT min(created_ms) FROM outbox WHERE state = 'pending'")
        value = rows[0][0]
        return None if value is None else int(value)

    def seq(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (SEQ_KEY,))
        return int(rows[0][0]) if rows else 0

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT state, count(*) FROM outbox GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    # --- offline counters ----------------------------------------------------------

    def day_counters(self, day: str, card_id: str) -> DayCounters:
        card = self._read(
            "SELECT points, cents FROM counters WHERE day = ? AND scope = 'card' AND key = ?",
            (day, card_id),
        )
        device = self._read(
            "SELECT cents FROM counters WHERE day = ? AND scope = 'device' AND key = ''", (day,)
        )
        points, cents = (int(card[0][0]), int(card[0][1])) if card else (0, 0)
        return DayCounters(points, cents, int(device[0][0]) if device else 0)

    # --- cached snapshots ------------------------------------------------------------

    def put_snapshot(self, snapshot: m.Snapshot) -> None:
        body = msgspec.json.encode(snapshot)
        with self._tx() as db:
            db.execute(
                "INSERT INTO snapshots (card_id, body, as_of_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (card_id) DO UPDATE SET body = excluded.body,"
                " as_of_ms = excluded.as_of_ms WHERE excluded.as_of_ms >= snapshots.as_of_ms",
                (snapshot.card_id, body, snapshot.as_of_ms),
            )
            _prune_snapshots(db)

    def snapshot(self, card_id: str) -> m.Snapshot | None:
        rows = self._read("SELECT body FROM snapshots WHERE card_id = ?", (card_id,))
        if not rows:
            return None
        snapshot = _snapshot_decoder.decode(bytes(rows[0][0]))
        assert snapshot.card_id == card_id
        return snapshot

    def adjust_snapshot(self, card_id: str, points: int, cents: int) -> None:
        """Take an offline decision's amounts off the cached balances (same as_of)."""
        snapshot = self.snapshot(card_id)
        if snapshot is None or snapshot.balances is None:
            return
        b = snapshot.balances
        balances = m.Balances(
            points=b.points - points,
            growth=b.growth,
            stored_value_cents=b.stored_value_cents - cents,
        )
        body = msgspec.json.encode(msgspec.structs.replace(snapshot, balances=balances))
        with self._tx() as db:
            db.execute("UPDATE snapshots SET body = ? WHERE card_id = ?", (body, card_id))


def _scalar(db: sqlite3.Connection, sql: str, args: Sequence[object] = ()) -> int:
    row = db.execute(sql, args).fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _add_spent(db: sqlite3.Connection, spent: Spent) -> None:
    assert spent.points >= 0 and spent.cents >= 0
    upsert = (
        "INSERT INTO counters (day, scope, key, points, cents) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (day, scope, key) DO UPDATE SET points = points + excluded.points,"
        " cents = cents + excluded.cents"
    )
    db.execute(upsert, (spent.day, "card", spent.card_id, spent.points, spent.cents))
    db.execute(upsert, (spent.day, "device", "", 0, spent.cents))


def _prune_done(db: sqlite3.Connection) -> None:
    done = _scalar(db, "SELECT count(*) FROM outbox WHERE state = 'done'")
    if done > DONE_KEEP_MAX:
        db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE state = 'done'"
            " ORDER BY seq LIMIT ?)",
            (done - DONE_KEEP_MAX,),
        )


def _prune_snapshots(db: sqlite3.Connection) -> None:
    count = _scalar(db, "SELECT count(*) FROM snapshots")
    if count > SNAPSHOTS_MAX:
        db.execute(
            "DELETE FROM snapshots WHERE card_id IN (SELECT card_id FROM snapshots"
            " ORDER BY as_of_ms LIMIT ?)",
            (count - SNAPSHOTS_MAX,),
        )
