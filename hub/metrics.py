"""What the hub counts (rejections by reason, the ledger's outcomes), added to the
`counters` table on a short cycle so that counts survive restarts and every worker's
counts add up."""

from __future__ import annotations

import time
from collections import Counter
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub import db
from tapcard.wire.codes import Reason

COUNTERS_FLUSH_S: Final = 5.0
REJECTED_PREFIX: Final = "rejected."  # + the reason's name: a refusal, wire or ledger


def rejected_counter(reason: Reason) -> str:
    """The counter of refusals for `reason` (what `rejections` reads back)."""
    return f"{REJECTED_PREFIX}{reason.name.lower()}"


def rejections(conn: Connection) -> dict[str, int]:
    """Every refusal the hub's workers counted and flushed, wire (bad signature,
    malformed, oversize, ...) and ledger alike, by reason name: /metrics'
    tapcard_rejections_total. Wire refusals have no stored result to count instead."""
    c = db.counters
    rows = conn.execute(
        sa.select(c.c.name, c.c.value).where(c.c.name.like(f"{REJECTED_PREFIX}%"))
    ).all()
    return {name.removeprefix(REJECTED_PREFIX): int(value) for name, value in sorted(rows)}


class Metrics:
    def __init__(self, writer: Engine, ledger_counts: Counter[str]) -> None:
        self.counts: Counter[str] = Counter()  # counted by the ingest path since start
        self._writer = writer
        self._ledger_counts = ledger_counts
        self._flushed: Counter[str] = Counter()
        self._flushed_at = 0.0

    def flush_due(self) -> None:
        """Flush if the last flush is COUNTERS_FLUSH_S old."""
        if time.monotonic() - self._flushed_at >= COUNTERS_FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Add what was counted since the last flush to the `counters` table."""
        self._flushed_at = time.monotonic()
        totals = self.counts + self._ledger_counts
        deltas = {k: v - self._flushed.get(k, 0) for k, v in totals.items()}
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        with self._writer.begin() as conn:
            for name in sorted(deltas):
                updated = conn.execute(
                    db.counters.update()
                    .where(db.counters.c.name == name)
                    .values(value=db.counters.c.value + deltas[name])
                ).rowcount
                if not updated:
                    conn.execute(db.counters.insert().values(name=name, value=deltas[name]))
        self._flushed = Counter(totals)
