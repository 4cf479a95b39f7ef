"""Segments over many members: preview (a COUNT) and refresh (INSERT ... SELECT into
segment_members) of three typical segments, time and peak memory.

A SQLite hub gets N members (tiers 10 % gold, 20 % silver; 20 % tagged vip; birthdays
spread over the year; one active card each) and about 1.5 N member_days rows: 60 % of
the members bought on 1-4 days of the last 180. The three segments:

- `vip-gold`: tag vip and tier gold (member rules only: an EXISTS on member_tags);
- `spenders`: at least ¥500.00 net over 90 days and a visit in the last 30 (the window's
  sums, a GROUP BY of member_days joined to the members);
- `champions`: RFM r >= 4 and f >= 4 over 90 days (the window's sums ranked three times).

The peer, measured in the same run on the same database: a bare `SELECT COUNT(*)` of
members and of the window's member_days, the least any evaluation that reads them must
do. Each of peer, preview and refresh runs in a fresh process, whose peak resident
memory (VmHWM) is its own.

    python bench/segments.py [--quick] [--n N] [--postgres]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._child import measured, peak_rss_mib
from bench.expiry import _defaults, postgres_url
from hub import campaign_report, db, segments
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.segments import SegmentRules
from tapcard.clock import ManualClock

N_FULL: Final = 1_000_000
N_QUICK: Final = 50_000
BATCH_ROWS: Final = 50_000
TODAY: Final = dt.date(2031, 3, 1)
EPOCH_TODAY: Final = (TODAY - dt.date(1970, 1, 1)).days
NOW_MS: Final = int(dt.datetime(2031, 3, 1, 12, tzinfo=dt.UTC).timestamp() * 1000)
RUN_TIMEOUT_S: Final = 1800
SEGMENTS: Final = {
    "vip-gold": SegmentRules(tags_any=["vip"], tiers=["gold"]),
    "spenders": SegmentRules(window_days=90, spend_min_cents=50_000, visited_within_days=30),
    "champions": SegmentRules(window_days=90, r_min=4, f_min=4),
}
# The campaign report's uplift (hub/campaign_report.py) splits a campaign's audience by
# the hold-out hash: one campaign held out of every member, one of a segment.
REPORTED: Final = {
    "ALL-HOLDOUT-10": {"control_percent": 10},
    "SPENDERS-HOLDOUT-10": {"segment": "spenders", "control_percent": 10},
}
REPORT_DAYS: Final = 30


def _insert(
    conn: sa.Connection, table: sa.Table, given: dict[str, Any], rows: list[tuple[Any, ...]]
) -> None:
    """Rows of the leading columns of `given`; the rest of `given` and defaults after."""
    lead, values = len(rows[0]), dict(given)
    cols = _defaults(table, values)  # adds the defaults to `values`
    tail = [values[c] for c in cols[lead:]]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    conn.exec_driver_sql(sql, [(*row, *tail) for row in rows])


def _days(i: int) -> list[tuple[int, str, int, int, int]]:
    """Member i's member_days: 60 % of members, on 1-4 distinct days of the last 180."""
    if i % 10 >= 6:
        return []
    return [
        (
            EPOCH_TODAY - (i * 7 + j * 13) % 180,
            "",
            i,
            1_000 + (i * 37 + j * 101) % 40_000,
            1 + j % 2,
        )
        for j in range(1 + i % 4)
    ]


def seed(data: Path, n: int, url: str) -> None:
    hub = Hub.init(HubConfig(data, url, None), clock=ManualClock(NOW_MS))
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(_sample_rules()), "bench")
    joined = dt.date(2029, 1, 1)
    member = {
        "id": 0,
        "tier": "",
        "birthday": None,
        "name": "",
        "phone": "",
        "joined_on": joined,
        "period_start": joined,
        "last_activity_on": joined,
        "state": "active",
    }
    card = {"id": "", "member_id": 0, "kind": "member", "state": "active", "issued_on": joined}
    card["expires_on"] = dt.date(2033, 1, 1)
    with hub.writer.begin() as conn:
        for start in range(1, n + 1, BATCH_ROWS):
            ids = range(start, min(n, start + BATCH_ROWS - 1) + 1)
            _insert(conn, db.members, member, [_member(i) for i in ids])
            _insert(conn, db.cards, card, [(f"C{i}", i) for i in ids])
            tags = [(i, "vip") for i in ids if i % 5 == 0] + [
                (i, "洗车") for i in ids if i % 7 == 0
            ]
            conn.exec_driver_sql(_plain("member_tags", 2, conn), tags)
            days = [row for i in ids for row in _days(i)]
            conn.exec_driver_sql(_plain("member_days", 5, conn), days)
    hub.close()


def _sample_rules() -> bytes:
    """The sample rules with the report's two targeted campaigns (`REPORTED`)."""
    from tapcard.samples import sample_rules_bytes

    rules = json.loads(sample_rules_bytes())
    rules["campaigns"] += [
        {"code": code, "kind": "percent_off", "percent_bp": 500, "stackable": True, **target}
        for code, target in REPORTED.items()
    ]
    return json.dumps(rules).encode()


def _plain(table: str, width: int, conn: sa.Connection) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns = {
        "member_tags": "member_id, tag",
        "member_days": "day, branch_id, member_id, net_cents, orders",
    }
    return f"INSERT INTO {table} ({columns[table]}) VALUES ({', '.join([mark] * width)})"


def _member(i: int) -> tuple[Any, ...]:
    tier = "gold" if i % 10 == 0 else "silver" if i % 10 in (1, 2) else "regular"
    return (i, tier, dt.date(1960 + i % 45, 1 + i % 12, 1 + i % 28))


def child(what: str, url: str) -> None:
    """One of peer | preview | refresh; seconds per segment (or per peer COUNT)."""
    engine = db.make_engine(url, clock=ManualClock(NOW_MS))
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}  # the process's own CPU: less moved by others' load
    counts: dict[str, int] = {}
    first = EPOCH_TODAY - 90 + 1
    peers = {
        "members": "SELECT COUNT(*) FROM members",
        "window_days": f"SELECT COUNT(*) FROM member_days WHERE day >= {first}",
    }
    if what == "report":
        _report_child(engine)
        return
    for name in peers if what == "peer" else SEGMENTS:
        started, cpu_started = time.perf_counter(), time.process_time()
        if what == "peer":
            with engine.connect() as conn:
                counts[name] = int(conn.exec_driver_sql(peers[name]).scalar_one())
        elif what == "preview":
            with engine.connect() as conn:
                counts[name] = segments.preview(conn, SEGMENTS[name], TODAY)
        else:
            with db.writer(engine).begin() as conn:
                counts[name] = segments.refresh(conn, name, TODAY)
        times[name] = time.perf_counter() - started
        cpu[name] = time.process_time() - cpu_started
    print(json.dumps({"s": times, "cpu_s": cpu, "counts": counts, "peak_mb": peak_rss_mib()}))


def _report_child(engine: sa.Engine) -> None:
    """`tapcard hub report campaign-effect` over the last REPORT_DAYS: its seconds,
    CPU and peak memory, and each reported campaign's audience as split."""
    start = TODAY - dt.timedelta(days=REPORT_DAYS - 1)
    started, cpu_started = time.perf_counter(), time.process_time()
    with engine.connect() as conn:
        rows = campaign_report.targeted_effect(conn, start, TODAY)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    split = {
        r["campaign"]: [r["treated"], r["held_out"]] for r in rows if r["campaign"] in REPORTED
    }
    assert set(split) == set(REPORTED), rows
    figures = {"s": seconds, "cpu_s": cpu, "split": split, "peak_mb": peak_rss_mib()}
    print(json.dumps(figures))


def _add_segments(url: str) -> None:
    engine = db.make_engine(url, clock=ManualClock(NOW_MS))
    with db.writer(engine).begin() as conn:
        for code, rules in SEGMENTS.items():
            segments.add(conn, code, code, rules, "bench")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{N_QUICK} members (< 1 min)")
    parser.add_argument("--n", type=int)
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL, not SQLite")
    parser.add_argument(
        "--child", choices=["peer", "preview", "refresh", "report"], help=argparse.SUPPRESS
    )
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
        seed(Path(tmp), n, url)
        _add_segments(url)
        print(f"seeded {n:,} members in {time.perf_counter() - started:.1f} s", flush=True)
        peer = measured(__file__, "peer", url, RUN_TIMEOUT_S)
        preview = measured(__file__, "preview", url, RUN_TIMEOUT_S)
        refresh = measured(__file__, "refresh", url, RUN_TIMEOUT_S)
        report = measured(__file__, "report", url, RUN_TIMEOUT_S)  # after refresh: segments
    assert preview["counts"] == refresh["counts"], (preview, refresh)
    _report(n, args.postgres, peer, preview, refresh, report)


def _report(
    n: int,
    pg: bool,
    peer: dict[str, Any],
    preview: dict[str, Any],
    refresh: dict[str, Any],
    report: dict[str, Any],
) -> None:
    print(f"{'':28}{'members':>10}{'preview s':>11}{'CPU s':>8}{'refresh s':>11}{'CPU s':>8}")
    for code in SEGMENTS:
        count, p, r = preview["counts"][code], preview["s"][code], refresh["s"][code]
        pc, rc = preview["cpu_s"][code], refresh["cpu_s"][code]
        print(f"{code:28}{count:>10,}{p:>11.2f}{pc:>8.2f}{r:>11.2f}{rc:>8.2f}")
    for name, s in peer["s"].items():
        print(f"{'peer: COUNT(*) ' + name:28}{peer['counts'][name]:>10,}{s:>11.2f}")
    audience = sum(sum(split) for split in report["split"].values())
    sides = ", ".join(f"{c}: {t:,} + {h:,} held out" for c, (t, h) in report["split"].items())
    line = f"{'report campaign-effect':28}{audience:>10,}{report['s']:>11.2f}"
    print(f"{line}{report['cpu_s']:>8.2f}  ({sides})")
    figures = {
        "bench": "segments",
        "database": "postgresql" if pg else "sqlite",
        "members": n,
        "member_days": peer["counts"]["window_days"],
        "preview_s": {k: round(v, 2) for k, v in preview["s"].items()},
        "refresh_s": {k: round(v, 2) for k, v in refresh["s"].items()},
        "preview_cpu_s": {k: round(v, 2) for k, v in preview["cpu_s"].items()},
        "refresh_cpu_s": {k: round(v, 2) for k, v in refresh["cpu_s"].items()},
        "counts": preview["counts"],
        "peer_count_s": {k: round(v, 3) for k, v in peer["s"].items()},
        "report_s": round(report["s"], 2),
        "report_cpu_s": round(report["cpu_s"], 2),
        "report_split": report["split"],
        "peak_mb": {
            w: round(f["peak_mb"])
            for w, f in (
                ("peer", peer),
                ("preview", preview),
                ("refresh", refresh),
                ("report", report),
            )
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
