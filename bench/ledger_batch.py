"""The hub's intent hot path in one process, without the broker: where the time goes.

A fixed, recorded set of N signed intents (the purchase and top-up mix of
bench/hub_ingest.py over 1,000 members) goes through what the hub does to each, stage by
stage, each stage timed on its own in the same run:

- unseal: open the envelope, verify the Ed25519 signature, decode the body (the router's
  `_unseal`, which runs on paho's network thread in `serve`);
- apply: `Ledger.apply_batch` in batches of 500 (load, decide, rows, inserts, commit);
- results: the signed result messages (`results_messages`, then `seal` per message).

The peer, in the same run on the same database file's folder: the bare write, that is
the same number of rows per intent inserted with the driver's executemany into tables of
the same width without indexes, one transaction (and fsync) per batch, as the throwaway
prototype of issue 18 did. Its ratio is how far the ledger is from a plain batch insert.

    python bench/ledger_batch.py [--quick] [--n N] [--postgres] [--profile]

`--profile` runs the apply stage again under cProfile and prints the functions with the
most own time. The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import sqlalchemy as sa
from nacl.signing import SigningKey, VerifyKey

from bench.hub_ingest import CARDS_N, postgres_url, seed
from hub import db
from hub.app import Hub
from hub.config import HubConfig
from hub.ledger import BATCH_INTENTS_MAX, Incoming, body_digest
from hub.router import results_messages
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tapcard.wire.envelope import HUB_SIGNER, BodyDecoder, open_envelope, seal, verify
from tapcard.wire.topics import Family, device_topic
from tests.hub.support import Device

N_FULL = 20_000
N_QUICK = 4_000
PROFILE_LINES = 30


def args_sort() -> str:
    """The profile's order: own time, or `BENCH_PROFILE_SORT=cumulative`."""
    return os.environ.get("BENCH_PROFILE_SORT", "tottime")


def _intents(cards: list[str], key: SigningKey, n: int) -> list[tuple[str, bytes]]:
    """N sealed intents as a device publishes them: (topic, payload)."""
    device = Device("kiosk-1", key)
    topic = device_topic("kiosk-1", Family.TX)
    out = []
    for i in range(n):
        op: m.AnyOp = (
            m.TopUp(amount_cents=500)
            if i % 4 == 0
            else m.Purchase(lines=[SaleLine("grocery", 1_000 + i % 97)], payment=Payment.CASH)
        )
        out.append((topic, device.sealed(cards[i % len(cards)], op).payload))
    return out


def _unseal(key: VerifyKey, sent: Sequence[tuple[str, bytes]]) -> list[Incoming]:
    """What the router's `_unseal` does to each intent, on paho's thread in `serve`."""
    decode = BodyDecoder(m.TxIntent).decode
    out = []
    for topic, payload in sent:
        body_bytes = verify(open_envelope(payload), topic, key)
        out.append(Incoming("kiosk-1", decode(body_bytes), body_digest(body_bytes), "shop-1"))
    return out


def _apply(hub: Hub, incoming: Sequence[Incoming]) -> list[m.TxResult]:
    results: list[m.TxResult] = []
    for start in range(0, len(incoming), BATCH_INTENTS_MAX):
        results += hub.ledger.apply_batch(incoming[start : start + BATCH_INTENTS_MAX])
    return results


def _sign_results(hub: Hub, results: list[m.TxResult]) -> int:
    sealed = 0
    for start in range(0, len(results), BATCH_INTENTS_MAX):
        for outgoing in results_messages(results[start : start + BATCH_INTENTS_MAX]):
            sealed += len(seal(hub.secrets.hub_key, HUB_SIGNER, outgoing.topic, outgoing.body))
    return sealed


def _row_counts(hub: Hub) -> dict[str, int]:
    """Rows the ledger wrote per table (to say how many rows an intent costs)."""
    tables = ("transfers", "legs", "results", "sale_lines", "daily_totals", "accounts")
    with hub.transaction() as conn:
        return {
            t: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
            for t in tables
            if (table := db.metadata.tables.get(t)) is not None
        }


def bare_write(folder: Path, n: int, rows_per_intent: int) -> float:
    """The peer: n * rows_per_intent rows of ~ledger width, executemany, a commit (WAL,
    synchronous=FULL, as the hub runs SQLite) per batch of 500 intents."""
    conn = sqlite3.connect(folder / "peer.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE r (a TEXT, b TEXT, c TEXT, d INTEGER, e INTEGER, f TEXT)")
    start = time.perf_counter()
    for first in range(0, n, BATCH_INTENTS_MAX):
        count = min(BATCH_INTENTS_MAX, n - first) * rows_per_intent
        rows = [(f"{first}-{i}", "m:1:cents", "cents", i, 0, "{}") for i in range(count)]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def run(folder: Path, url: str, n: int, profile: bool) -> dict[str, float]:
    hub, _, cards, key = seed(HubConfig(folder / "hub", url, None))
    try:
        assert isinstance(key, SigningKey)
        sent = _intents(cards, key, n)
        before = _row_counts(hub)
        t0 = time.perf_counter()
        incoming = _unseal(key.verify_key, sent)
        t1, cpu1 = time.perf_counter(), time.process_time()
        if profile:
            profiler = cProfile.Profile()
            results = profiler.runcall(_apply, hub, incoming)
        else:
            results = _apply(hub, incoming)
        t2, cpu2 = time.perf_counter(), time.process_time()
        _sign_results(hub, results)
        t3 = time.perf_counter()
        after = _row_counts(hub)
        assert sum(r.accepted for r in results) == n, "not every intent was accepted"
        if profile:
            stats = pstats.Stats(profiler)
            stats.sort_stats(args_sort()).print_stats(PROFILE_LINES)
    finally:
        hub.close()
    written = {t: after[t] - before[t] for t in after}
    return {
        "unseal_us": (t1 - t0) / n * 1e6,
        "apply_us": (t2 - t1) / n * 1e6,
        "apply_cpu_us": (cpu2 - cpu1) / n * 1e6,  # moves less with the machine's load
        "results_us": (t3 - t2) / n * 1e6,
        "apply_tx_per_s": n / (t2 - t1),
        "rows_per_intent": sum(written.values()) / n,
        **{f"rows_{t}": v / n for t, v in written.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--n", type=int, help="intents")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL too")
    parser.add_argument("--profile", action="store_true", help="cProfile the apply stage")
    args = parser.parse_args()
    n = args.n or (N_QUICK if args.quick else N_FULL)
    figures: dict[str, float] = {"n": n, "members": CARDS_N}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sqlite = run(folder, f"sqlite:///{folder / 'hub.sqlite3'}", n, args.profile)
        figures |= {f"sqlite_{k}": v for k, v in sqlite.items()}
        rows = max(1, round(sqlite["rows_per_intent"]))
        peer = bare_write(folder, n, rows)
        figures["peer_bare_write_tx_per_s"] = peer
        figures["sqlite_apply_over_peer"] = sqlite["apply_tx_per_s"] / peer
        if args.postgres:
            with postgres_url() as pg_url:
                pg = run(folder / "pg", pg_url, n, args.profile)
            figures |= {f"postgres_{k}": v for k, v in pg.items()}
    for prefix in ("sqlite", "postgres"):
        if f"{prefix}_apply_us" in figures:
            print(
                f"{prefix:9} µs per intent: unseal {figures[f'{prefix}_unseal_us']:.1f}  "
                f"apply {figures[f'{prefix}_apply_us']:.1f} "
                f"(cpu {figures[f'{prefix}_apply_cpu_us']:.1f})  "
                f"results {figures[f'{prefix}_results_us']:.1f}  "
                f"({figures[f'{prefix}_apply_tx_per_s']:.0f} tx/s applied, "
                f"{figures[f'{prefix}_rows_per_intent']:.1f} rows per intent)"
            )
    print(f"peer:     bare executemany of {rows} rows per intent: {peer:.0f} tx/s")
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
