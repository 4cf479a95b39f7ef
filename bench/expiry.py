"""The points expiry job over many members: time and peak memory.

A SQLite hub gets N members, each with a card still valid, 150 points in two buckets
(100 whose last day was yesterday, 50 later) and a balance of 120 (30 spent), so every
member has 70 points to expire: the worst day, the end of a calendar year when all points
of a year lapse at once (`--due-pct 8`: only 8 % have points due, as at a month end of a
rolling scheme; the others' first bucket is months away). The job
(`hub.expiry.run_expiry`) books one expiry transfer per member. The peer, measured in the
same run on the same database: the same members'
points balances read with one plain SELECT (streamed), which is the least any job that
looks at every member must do. Each is measured in a fresh process, whose peak resident
memory (VmHWM) and CPU time are its own (on a shared machine the CPU time moves less
with the others' load than the wall time does).

    python bench/expiry.py [--quick] [--n N] [--due-pct P] [--postgres]

`--postgres` runs the same on a throwaway PostgreSQL cluster with fsync and synchronous
commit on (tests/pgcluster.py; or the server at $TAPCARD_TEST_PG_URL).

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._child import measured, peak_rss_mib
from hub import db
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from tapcard.clock import ManualClock
from tapcard.samples import sample_rules_bytes
from tests.pgcluster import PG_URL_ENV, PgCluster

N_FULL = 1_000_000
N_QUICK = 100_000
BATCH_ROWS = 50_000
TODAY = dt.date(2031, 1, 1)  # the job's day: what lapsed on 31 December 2030 goes
RUN_TIMEOUT_S = 900


def _defaults(table: sa.Table, given: dict[str, Any]) -> list[str]:
    """The columns to insert: those given, and every other one with a scalar default."""
    cols = list(given)
    for c in table.columns:
        if c.name in given or c.primary_key:
            continue
        default = c.default
        if isinstance(default, sa.ColumnDefault) and default.is_scalar:
            given[c.name] = default.arg
        elif not c.nullable:
            raise SystemExit(f"bench: {table.name}.{c.name} needs a value")
        else:
            given[c.name] = None
        cols.append(c.name)
    return cols


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh database on a durable throwaway cluster, dropped afterwards."""
    with contextlib.ExitStack() as stack:
        admin_url = os.environ.get(PG_URL_ENV, "").strip()
        if not admin_url:
            admin_url = stack.enter_context(PgCluster(durable=True)).admin_url
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        stack.callback(admin.dispose)
        name = f"tapcard_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def seed(data: Path, n: int, due_pct: int, url: str) -> str:
    clock = ManualClock(int(dt.datetime(2030, 12, 31, 12, tzinfo=dt.UTC).timestamp() * 1000))
    hub = Hub.init(HubConfig(data, url, None), clock=clock)
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
    day = dt.date(2030, 1, 1)
    later2 = dt.date(2031, 3, 31)  # the members with nothing due: a bucket later still
    due, later, card_expiry = (
        TODAY - dt.timedelta(days=1),
        dt.date(2031, 6, 30),
        dt.date(2032, 1, 1),
    )
    with hub.writer.begin() as conn:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for start in range(1, n + 1, BATCH_ROWS):
            ids = range(start, min(n, start + BATCH_ROWS - 1) + 1)
            member = {
                "id": 0,
                "name": "",
                "phone": "",
                "tier": "regular",
                "joined_on": day,
                "period_start": day,
                "last_activity_on": day,
                "state": "active",
            }
            cols = _defaults(db.members, member)
            conn.exec_driver_sql(
                f"INSERT INTO members ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})",
                [(i, f"M{i}", f"1{i:010d}", *[member[c] for c in cols[3:]]) for i in ids],
            )
            conn.exec_driver_sql(
                "INSERT INTO accounts (code, asset, member_id, balance) "
                f"VALUES ({', '.join([mark] * 4)})",
                [
                    (f"m:{i}:{a}", a, i, 120 if a == "points" else 0)
                    for i in ids
                    for a in ("cents", "points", "growth")
                ],
            )
            card = {
                "id": "",
                "member_id": 0,
                "kind": "member",
                "state": "active",
                "issued_on": day,
                "expires_on": card_expiry,
            }
            ccols = _defaults(db.cards, card)
            conn.exec_driver_sql(
                f"INSERT INTO cards ({', '.join(ccols)}) VALUES ({', '.join([mark] * len(ccols))})",
                [(f"C{i}", i, *[card[c] for c in ccols[2:]]) for i in ids],
            )
            conn.exec_driver_sql(
                "INSERT INTO point_buckets (member_id, expires_on, points) "
                f"VALUES ({', '.join([mark] * 3)})",
                [
                    (i, on, p)
                    for i in ids
                    for on, p in ((due if i % 100 < due_pct else later2, 100), (later, 50))
                ],
            )
    hub.close()
    return url


def child(what: str, url: str) -> None:
    engine = db.make_engine(url)
    started, cpu = time.perf_counter(), time.process_time()
    if what == "job":
        from hub.expiry import run_expiry
        from hub.rulestore import RulesCache

        rules = RulesCache(engine).latest()
        report = run_expiry(db.writer(engine), rules, TODAY)
        count, points = report.members, report.points
    else:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                sa.text("SELECT member_id, balance FROM accounts WHERE asset = 'points'")
            )
            count = points = 0
            for rows in iter(lambda: result.fetchmany(10_000), []):
                count += len(rows)
                points += sum(int(r[1]) for r in rows)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    figures = {"s": seconds, "cpu_s": cpu, "peak_mb": peak_rss_mib(), "members": count}
    print(json.dumps(figures | {"points": points}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{N_QUICK} members (< 1 min)")
    parser.add_argument("--n", type=int)
    parser.add_argument(
        "--due-pct",
        type=int,
        default=100,
        help="members with points due, %% (100: a calendar year end; 8: a rolling month end)",
    )
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL, not SQLite")
    parser.add_argument("--child", choices=["job", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    n = args.n or (N_QUICK if args.quick else N_FULL)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = f"sqlite:///{Path(tmp) / 'hub.sqlite3'}"
        if args.postgres:
            url = stack.enter_context(postgres_url())
        started = time.perf_counter()
        url = seed(Path(tmp), n, args.due_pct, url)
        print(f"seeded {n} members in {time.perf_counter() - started:.1f} s", flush=True)
        peer = measured(__file__, "peer", url, RUN_TIMEOUT_S)
        job = measured(__file__, "job", url, RUN_TIMEOUT_S)
        # The same day again: finds nothing to book.
        again = measured(__file__, "job", url, RUN_TIMEOUT_S)
    due_n = sum(1 for i in range(1, n + 1) if i % 100 < args.due_pct)
    assert job["members"] == due_n and job["points"] == 70 * due_n, job
    assert again["points"] == 0, again
    print(f"{'':24}{'seconds':>10}{'CPU s':>8}{'peak MB':>10}{'members/s':>12}")
    for name, r in (("peer: SELECT balances", peer), ("expiry job", job), ("job again", again)):
        rate = n / r["s"] if r["s"] else 0
        print(f"{name:24}{r['s']:>10.2f}{r['cpu_s']:>8.2f}{r['peak_mb']:>10.0f}{rate:>12.0f}")
    figures = {
        "bench": "expiry",
        "database": "postgresql" if args.postgres else "sqlite",
        "members": n,
        "job_s": round(job["s"], 2),
        "job_cpu_s": round(job["cpu_s"], 2),  # the process's own: less moved by others' load
        "job_peak_mb": round(job["peak_mb"]),
        "job_again_s": round(again["s"], 2),
        "peer_select_s": round(peer["s"], 2),
        "peer_peak_mb": round(peer["peak_mb"]),
        "members_due": due_n,
        "points_expired": job["points"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
