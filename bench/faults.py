"""Faults: kill -9 of the hub and the broker during a run of signed intents.

One run per database: a device publishes N signed intents (QoS 1), in one chunk per
kill and one more, to a private mosquitto; a `tapcard hub serve` process books them.
While they are in flight the hub is killed with SIGKILL HUB_KILLS times (started again
each time) and the broker with SIGKILL BROKER_KILLS times (started again on the same
port and persistence folder). The device resends whatever has no result when results
stall, as its outbox does.
When every intent has a result the database is counted against the sent tx ids:

- lost: sent and neither booked (a transfer) nor refused (a result without one);
- doubled: a tx id with two transfers or two results, a (device, seq) booked twice, a
  transfer from the device under an id it never sent, or member cents that differ from
  the sum of the accepted top-ups (a top-up booked twice under any id shows there);
- `verify` (hub.verify.verify_ledger) clean.

The peer, measured in the same run on the same database kind: the same N intents with
no faults, time from the first publish to the last result. Recovery is the time from
each kill to the first new result (an intent that had none) after the restart.

    python bench/faults.py [--quick] [--n N] [--hub-kills K] [--no-postgres]

Full: 10,000 intents, 10 hub kills, 1 broker kill, SQLite and PostgreSQL. --quick:
2,000 intents, 3 hub kills, 1 broker kill, both databases (about 25 s).

PostgreSQL is a throwaway cluster with the server's default durability (as in
bench/hub_ingest.py), or the server whose admin URL $TAPCARD_TEST_PG_URL gives.
The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from bench.hub_ingest import postgres_url
from hub import admin, db
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.verify import verify_ledger
from tapcard.device.intents import SealedIntent
from tapcard.device.scripted import ScriptedDevice
from tapcard.wire import messages as m
from tests.conftest import Seeded, seed_hub
from tests.hub.processes import HubProcess, ResendingDevice
from tests.hub.support import purchase

N_FULL = 10_000
N_QUICK = 2_000
HUB_KILLS_FULL = 10
HUB_KILLS_QUICK = 3
BROKER_KILLS = 1
EXTRA_CARDS_N = 18  # with seed_hub's two: top-ups spread so no card nears its cap
# Like an outbox: resend what has no result once results have stalled this long.
RESEND_AFTER_S = 3.0
BROKER_DOWN_S = 0.5  # the broker stays dead this long before its restart
EVENT_TIMEOUT_S = 120.0  # for the results before one kill, or one recovery
DRAIN_TIMEOUT_S = 300.0
POLL_S = 0.02
CHUNK_INTENTS_MIN = 8  # a kill waits for a quarter of a chunk: leave some in flight
assert RESEND_AFTER_S < EVENT_TIMEOUT_S < DRAIN_TIMEOUT_S

UrlMaker = Callable[[], AbstractContextManager[str]]  # a fresh, empty database per call


@dataclass
class Rig:
    """One fresh hub database, its own broker, a hub process and a resending device."""

    seeded: Seeded
    broker: PrivateBroker
    hub_proc: HubProcess
    device: ScriptedDevice
    sender: ResendingDevice
    sealed: list[SealedIntent] = field(default_factory=list)
    resent: int = 0  # intents published again because their results stalled
    hub_start_s: list[float] = field(default_factory=list)  # kill -> new process serving

    def resend_pending(self) -> None:
        pending = self.sender.pending()
        for item in pending:
            self.device.publish(item)
        self.resent += len(pending)

    def answered(self) -> int:
        results = self.device.results
        return sum(1 for s in self.sealed if s.tx_id in results)

    def close(self) -> None:
        self.device.close()
        code = self.hub_proc.stop()
        self.broker.stop()
        self.seeded.hub.close()
        assert code == 0, self.hub_proc.log()


def open_rig(folder: Path, db_url: str, n: int) -> Rig:
    """Seed as the tests do (tests/conftest.py), plus cards; start broker, hub and
    device; wait for one warm-up result so the hub is subscribed before the clock runs."""
    config = HubConfig(folder / "hub", db_url, None)
    seeded = seed_hub(config)
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        for i in range(EXTRA_CARDS_N):
            member = admin.add_member(
                conn,
                admin.NewMember(name=f"Member {i}", phone=f"1390000{i:04d}"),
                rules,
                "",
                "bench",
            )
            seeded.cards.append(admin.issue_card(conn, member, rules, "bench"))
    broker = PrivateBroker(folder / "broker", anonymous_devices=True)  # bench clients: no logins
    broker.start()
    hub_proc = HubProcess(config.data_dir, db_url, broker)
    hub_proc.start()
    device = ScriptedDevice(
        seeded.device_id,
        seeded.device_key,
        seeded.hub.secrets.hub_key.verify_key,
        broker.host,
        broker.port,
    )
    sender = ResendingDevice(device)
    sender.send_all([device.make(seeded.cards[0], m.TopUp(amount_cents=1))])
    sender.drain(EVENT_TIMEOUT_S, resend_every_s=0.5)
    rig = Rig(seeded, broker, hub_proc, device, sender)
    rig.sealed = [_intent(device, seeded.cards, i) for i in range(n)]
    return rig


def _intent(device: ScriptedDevice, cards: list[str], i: int) -> SealedIntent:
    """Alternating top-ups (varied amounts, so a double shows in the sums) and cash sales."""
    op: m.AnyOp = m.TopUp(amount_cents=100 + i % 7) if i % 2 else purchase(1_000 + i % 13)
    return device.make(cards[i % len(cards)], op)


def wait_answered(rig: Rig, target: int, timeout_s: float) -> None:
    """Until `target` intents have results; resend the rest whenever results stall."""
    deadline = time.monotonic() + timeout_s
    seen, progress_at = rig.answered(), time.monotonic()
    while seen < target:
        now = time.monotonic()
        assert now < deadline, f"{seen} of {target} results after {timeout_s} s"
        if now - progress_at > RESEND_AFTER_S:
            rig.resend_pending()
            progress_at = now
        time.sleep(POLL_S)
        count = rig.answered()
        if count > seen:
            seen, progress_at = count, time.monotonic()


def first_new_result_after(rig: Rig, since: float, timeout_s: float) -> float:
    """perf_counter time of the first result, for an intent that had none, after `since`."""
    deadline = time.monotonic() + timeout_s
    resent_at = since
    while True:
        times = [t for t in list(rig.device.result_times.values()) if t > since]
        if times:
            return min(times)
        assert time.monotonic() < deadline, "no result after the restart"
        if time.perf_counter() - resent_at > RESEND_AFTER_S:
            rig.resend_pending()
            resent_at = time.perf_counter()
        time.sleep(POLL_S)


def kill_hub(rig: Rig, chunk: list[SealedIntent]) -> float:
    """SIGKILL the hub, publish the next chunk while it is down (the broker queues it),
    start it again; seconds from the kill to the first new result."""
    killed_at = time.perf_counter()
    rig.hub_proc.kill()
    rig.sender.send_all(chunk)
    rig.hub_proc.start()
    # Results the dead hub published just before the kill still arrive for a few ms:
    # count from when the new one serves.
    serving_at = time.perf_counter()
    rig.hub_start_s.append(serving_at - killed_at)
    return first_new_result_after(rig, serving_at, EVENT_TIMEOUT_S) - killed_at


def kill_broker(rig: Rig, chunk: list[SealedIntent]) -> float:
    """SIGKILL mosquitto, start it again on its port and persistence, publish the next
    chunk; seconds from the kill to the first new result (hub and device reconnect on
    their own)."""
    killed_at = time.perf_counter()
    rig.broker.stop(kill=True)
    time.sleep(BROKER_DOWN_S)
    rig.broker.start()
    restarted_at = time.perf_counter()
    rig.sender.send_all(chunk)
    return first_new_result_after(rig, restarted_at, EVENT_TIMEOUT_S) - killed_at


def schedule(hub_kills: int, broker_kills: int) -> list[str]:
    """The kills in order: the broker's spread among the hub's, none first or last."""
    events = ["hub"] * hub_kills
    for k in range(broker_kills):
        events.insert((k + 1) * len(events) // (broker_kills + 1), "broker")
    return events


def run_faults(folder: Path, db_url: str, n: int, hub_kills: int) -> dict[str, float]:
    """Publish N in one chunk per kill and one more. Kill when a quarter of the latest
    chunk has results (the rest is in flight), publish the next chunk as the process
    comes back (so every restart has new work to answer); drain; count the database."""
    rig = open_rig(folder, db_url, n)
    events = schedule(hub_kills, BROKER_KILLS)
    bounds = [i * n // (len(events) + 1) for i in range(len(events) + 2)]
    recovery: dict[str, list[float]] = {"hub": [], "broker": []}
    in_flight: list[int] = []
    try:
        start = time.perf_counter()
        rig.sender.send_all(rig.sealed[: bounds[1]])
        for i, event in enumerate(events):
            wait_answered(rig, bounds[i] + (bounds[i + 1] - bounds[i]) // 4, EVENT_TIMEOUT_S)
            in_flight.append(bounds[i + 1] - rig.answered())
            kill = kill_hub if event == "hub" else kill_broker
            recovery[event].append(kill(rig, rig.sealed[bounds[i + 1] : bounds[i + 2]]))
        wait_answered(rig, n, DRAIN_TIMEOUT_S)
        elapsed = time.perf_counter() - start
        counted = count_once(rig)
    finally:
        rig.close()
    hub_s = sorted(recovery["hub"])
    return counted | {
        "total_s": elapsed,
        "hub_kills": len(hub_s),
        "broker_kills": len(recovery["broker"]),
        "in_flight_at_kill_min": min(in_flight),
        "kills_with_work_in_flight": sum(1 for count in in_flight if count > 0),
        "hub_recovery_p50_s": statistics.median(hub_s),
        "hub_recovery_max_s": hub_s[-1],
        "hub_start_p50_s": statistics.median(rig.hub_start_s),
        "broker_recovery_max_s": max(recovery["broker"]),
    }


def run_clean(folder: Path, db_url: str, n: int) -> float:
    """The peer: the same N intents, no faults; seconds from first publish to last result."""
    rig = open_rig(folder, db_url, n)
    try:
        start = time.perf_counter()
        rig.sender.send_all(rig.sealed)
        wait_answered(rig, n, DRAIN_TIMEOUT_S)
        elapsed = time.perf_counter() - start
        counted = count_once(rig)
    finally:
        rig.close()
    assert counted["lost"] == counted["doubled"] == counted["verify_errors"] == 0, counted
    return elapsed


def _doubles(conn: sa.Connection, device_id: str) -> int:
    """Rows that would mean an intent counted twice; the unique keys should keep it 0."""
    twice = 0
    for table, columns in (
        (db.transfers, ("tx_id",)),
        (db.results, ("tx_id",)),
        (db.transfers, ("device_id", "seq")),
        (db.results, ("device_id", "seq")),
    ):
        keys = [table.c[name] for name in columns]
        grouped = (
            sa.select(*keys)
            .where(table.c.device_id == device_id)
            .group_by(*keys)
            .having(sa.func.count() > 1)
            .subquery()
        )
        twice += int(conn.execute(sa.select(sa.func.count()).select_from(grouped)).scalar_one())
    return twice


def _member_cents(conn: sa.Connection) -> int:
    total = sa.func.coalesce(sa.func.sum(db.accounts.c.balance), 0)
    where = (db.accounts.c.asset == "cents", db.accounts.c.member_id.is_not(None))
    return int(conn.execute(sa.select(total).where(*where)).scalar_one())


def count_once(rig: Rig) -> dict[str, float]:
    """Count the database against the sent tx ids (see the module's docstring)."""
    device_id = rig.seeded.device_id
    with rig.seeded.hub.engine.connect() as conn:
        booked = set(
            conn.execute(
                sa.select(db.transfers.c.tx_id).where(db.transfers.c.device_id == device_id)
            ).scalars()
        )
        answered = dict(
            conn.execute(
                sa.select(db.results.c.tx_id, db.results.c.accepted).where(
                    db.results.c.device_id == device_id
                )
            ).all()
        )
        doubled = _doubles(conn, device_id)
        cents = _member_cents(conn)
        report = verify_ledger(conn)
    sent = {str(s.tx_id) for s in rig.sealed} | {str(t) for t in rig.sender.sent}
    refused = {tx for tx, accepted in answered.items() if not accepted} - booked
    lost = sum(1 for tx in sent if tx not in booked and tx not in refused)
    topups = sum(
        s.intent.op.amount_cents
        for s in rig.sender.sent.values()
        if isinstance(s.intent.op, m.TopUp) and answered.get(str(s.tx_id))
    )
    disagree = sum(
        1 for s in rig.sealed if rig.device.results[s.tx_id].accepted != answered.get(str(s.tx_id))
    )
    return {
        "sent": len(rig.sealed),
        "results": rig.answered(),
        "booked_once": sum(1 for s in rig.sealed if str(s.tx_id) in booked),
        "refused": sum(1 for s in rig.sealed if str(s.tx_id) in refused),
        "lost": lost,
        "doubled": doubled + len(booked - sent) + (cents != topups),
        "device_disagrees": disagree,
        "verify_errors": len(report.errors),
        "resent": rig.resent,
    }


def run_database(
    name: str, folder: Path, urls: UrlMaker, n: int, hub_kills: int
) -> dict[str, float]:
    """The faulted run and its peer, each on a fresh database from `urls`."""
    with urls() as url:
        faults = run_faults(folder / f"{name}-faults", url, n, hub_kills)
    with urls() as url:
        clean_s = run_clean(folder / f"{name}-clean", url, n)
    print(
        f"{name:9} sent {faults['sent']:.0f}, results {faults['results']:.0f}, booked once "
        f"{faults['booked_once']:.0f}, refused {faults['refused']:.0f}, lost "
        f"{faults['lost']:.0f}, doubled {faults['doubled']:.0f}, verify errors "
        f"{faults['verify_errors']:.0f}; {faults['hub_kills']:.0f} hub kills, "
        f"{faults['broker_kills']:.0f} broker kill(s) ({faults['kills_with_work_in_flight']:.0f} "
        f"with intents in flight, >= {faults['in_flight_at_kill_min']:.0f}), "
        f"{faults['resent']:.0f} resent"
    )
    print(
        f"{'':9} with faults {faults['total_s']:.1f} s; no faults {clean_s:.1f} s (the peer); "
        f"kill -> first new result: hub p50 {faults['hub_recovery_p50_s']:.2f} s, max "
        f"{faults['hub_recovery_max_s']:.2f} s (p50 {faults['hub_start_p50_s']:.2f} s of it to "
        f"'serving'); broker {faults['broker_recovery_max_s']:.2f} s"
    )
    return {f"{name}_{k}": v for k, v in faults.items()} | {f"{name}_clean_s": clean_s}


def sqlite_urls(folder: Path) -> UrlMaker:
    @contextlib.contextmanager
    def fresh() -> Iterator[str]:
        yield f"sqlite:///{folder / f'hub-{uuid.uuid4().hex[:8]}.sqlite3'}"

    return fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--n", type=int, help="intents per run")
    parser.add_argument("--hub-kills", type=int, help="hub kills per run")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    n = args.n or (N_QUICK if args.quick else N_FULL)
    hub_kills = args.hub_kills or (HUB_KILLS_QUICK if args.quick else HUB_KILLS_FULL)
    if hub_kills < 1 or n < CHUNK_INTENTS_MIN * (hub_kills + BROKER_KILLS + 1):
        parser.error(f"at least 1 hub kill and {CHUNK_INTENTS_MIN} intents per chunk")
    figures: dict[str, float] = {"n": n}
    with tempfile.TemporaryDirectory(prefix="tapcard-faults-") as tmp:
        folder = Path(tmp)
        figures |= run_database("sqlite", folder, sqlite_urls(folder), n, hub_kills)
        if not args.no_postgres:
            figures |= run_database("postgres", folder, postgres_url, n, hub_kills)
    zero = ("_lost", "_doubled", "_disagrees", "_errors")
    ok = all(figures[k] == 0 for k in figures if k.endswith(zero)) and all(
        figures[k] == n for k in figures if k.endswith(("_sent", "_results"))
    )
    print(json.dumps({k: round(v, 3) for k, v in figures.items()} | {"ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
