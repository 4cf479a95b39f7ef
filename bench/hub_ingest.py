"""Hub ingest throughput: signed intents through mosquitto into the ledger.

A device-like client publishes N pre-signed intents (QoS 1) to a private mosquitto; a
`tapcard hub serve` process ingests them into SQLite, then PostgreSQL; the figure is
the time from the first publish to the last result. The peer, measured in the same run
with the same payload size: raw mosquitto QoS 1 throughput from one publisher to one
subscriber. Latency is publish-to-result under that full load (it includes queueing).

    python bench/hub_ingest.py [--quick] [--n N] [--no-postgres] [--mix refunds]

PostgreSQL runs with --workers hub processes and again with twice as many, in the same
run: `pg_scaling_2w_over_1w` is the ratio, `sqlite_over_mosquitto` SQLite's to the peer.

`--mix refunds` also runs a mix where every fourth intent is a refund (of a sale booked
before the timed run, by a logged-in cashier), beside the purchase-only mix of the same run.

PostgreSQL is a throwaway cluster with the server's default durability (tests/pgcluster.py),
or the server whose admin URL $TAPCARD_TEST_PG_URL gives.

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from hub import admin
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from tapcard.device.intents import SealedIntent
from tapcard.device.scripted import ScriptedDevice
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key, verify_key_text
from tapcard.wire.topics import PREFIX

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._spy import Spy
from bench._spy import read as read_profile
from tests.hub.processes import HubProcess, ResendingDevice
from tests.hub.support import staff_on_duty
from tests.pgcluster import PG_URL_ENV, PgCluster

CARDS_N = 1_000  # many members, as in a chain: with few, two workers lock the same ones
N_FULL = 20_000
N_QUICK = 4_000
RUN_TIMEOUT_S = 300.0


def seed(config: HubConfig) -> tuple[Hub, ScriptedDevice | None, list[str], object]:
    hub = Hub.init(config)
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
    rules = hub.rules.latest()
    key = new_signing_key()
    cards = []
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-1", "Shop one", "bench", "bench")
        admin.add_device(
            conn, "kiosk-1", "shop-1", "terminal", verify_key_text(key.verify_key), "bench"
        )
        for i in range(CARDS_N):
            member = admin.add_member(
                conn,
                admin.NewMember(name=f"Member {i}", phone=f"1390000{i:04d}"),
                rules,
                "",
                "bench",
            )
            cards.append(admin.issue_card(conn, member, rules, "bench"))
    return hub, None, cards, key


def _refunded_sales(
    device: ScriptedDevice, sender: ResendingDevice, cards: list[str], count: int, staff: object
) -> list[tuple[str, str]]:
    """Sales (card, transfer id) booked before the timed run, for its refunds to name."""
    lines = [SaleLine("grocery", 1_000), SaleLine("grocery", 2_500)]
    sales = [
        device.make(cards[i % len(cards)], m.Purchase(lines=lines, payment=Payment.CASH))
        for i in range(count)
    ]
    sender.send_all(sales)
    sender.drain(RUN_TIMEOUT_S, resend_every_s=5)
    return [(s.intent.card_id, str(s.tx_id)) for s in sales]


def _mix(
    device: ScriptedDevice, cards: list[str], n: int, refunds: list[tuple[str, str]], staff: object
) -> list[SealedIntent]:
    sealed = []
    for i in range(n):
        if refunds and i % 4 == 3:  # a line of an earlier sale, at a logged-in counter
            card, ref = refunds[i // 4]
            back = m.Refund(ref=ref, lines=[m.RefundLine(line_no=1, quantity=1)], reason="bench")
            sealed.append(device.make(card, back, staff=staff))
            continue
        op: m.AnyOp = (
            m.TopUp(amount_cents=500)
            if i % 4 == 0
            else m.Purchase(lines=[SaleLine("grocery", 1_000 + i % 97)], payment=Payment.CASH)
        )
        sealed.append(device.make(cards[i % len(cards)], op))
    return sealed


class Sampler:
    """What the machine and, on PostgreSQL, the hub's sessions were doing during a timed
    run: the CPU busy share of the whole machine (/proc/stat), each hub process's CPU
    share (/proc/<pid>/stat), and pg_stat_activity's state and wait event of the hub's
    backends sampled every SAMPLE_S. The evidence for why workers scale as they do."""

    SAMPLE_S = 0.02

    def __init__(self, db_url: str | None, pids: list[int]) -> None:
        self.engine = sa.create_engine(db_url) if db_url else None
        self.pids = pids
        self.waits: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _machine() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    def _ticks(self) -> list[int]:
        out = []
        for pid in self.pids:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out.append(int(stat[11]) + int(stat[12]))  # utime + stime
        return out

    def __enter__(self) -> Sampler:
        self.start = (time.perf_counter(), self._machine(), self._ticks())
        self._thread.start()
        return self

    def _run(self) -> None:
        if self.engine is None:
            return
        query = sa.text(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            while not self._stop.wait(self.SAMPLE_S):
                for state, kind, event in conn.execute(query):
                    what = f"{kind}:{event}" if kind else "on CPU"
                    self.waits[f"{state} / {what}"] += 1
                conn.rollback()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        wall_s = time.perf_counter() - self.start[0]
        (total0, idle0), ticks0 = self.start[1], self.start[2]
        total1, idle1 = self._machine()
        hz = os.sysconf("SC_CLK_TCK")
        self.machine_busy_pct = 100 * (1 - (idle1 - idle0) / max(1, total1 - total0))
        self.hub_cpu_pct = [
            100 * (t1 - t0) / hz / wall_s for t0, t1 in zip(ticks0, self._ticks(), strict=True)
        ]
        if self.engine is not None:
            self.engine.dispose()

    def summary(self) -> str:
        hubs = " ".join(f"{p:.0f}%" for p in self.hub_cpu_pct)
        total = sum(self.waits.values()) or 1
        top = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in self.waits.most_common(6))
        return f"machine busy {self.machine_busy_pct:.0f}%, hub processes {hubs}" + (
            f"; backends: {top}" if self.waits else ""
        )


def run_hub(
    config: HubConfig,
    broker: PrivateBroker,
    n: int,
    workers: int = 1,
    mix: str = "purchases",
    profile: Path | None = None,
) -> dict[str, float]:
    hub, _, cards, key = seed(config)
    staff = staff_on_duty(hub, "kiosk-1", "ann") if mix == "refunds" else None
    group = uuid.uuid4().hex[:6]
    processes = [
        HubProcess(
            config.data_dir, config.db_url, broker, worker=f"{group}-{i}", shared=workers > 1
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    device = ScriptedDevice(
        "kiosk-1",
        key,  # type: ignore[arg-type]
        hub.secrets.hub_key.verify_key,
        broker.host,
        broker.port,
    )
    try:
        sender = ResendingDevice(device)
        warm = [device.make(cards[0], m.TopUp(amount_cents=1))]
        sender.send_all(warm)
        sender.drain(60, resend_every_s=0.5)
        refunds = _refunded_sales(device, sender, cards, n // 4, staff) if staff else []
        sealed = _mix(device, cards, n, refunds, staff)
        sent_at: dict[uuid.UUID, float] = {}
        pg_url = config.db_url if config.db_url.startswith("postgresql") else None
        pids = [p.process.pid for p in processes if p.process is not None]
        with contextlib.ExitStack() as spying, Sampler(pg_url, pids) as sampler:
            if profile is not None:  # the first worker, sampled from outside by py-spy
                spying.enter_context(Spy(pids[0], profile))
            start = time.perf_counter()
            for item in sealed:
                sent_at[item.tx_id] = time.perf_counter()
                device.publish(item)
            sender.sent.update({s.tx_id: s for s in sealed})
            sender.drain(RUN_TIMEOUT_S, resend_every_s=30)
        print(f"  during the run: {sampler.summary()}")
        if profile is not None:
            print("\n".join(read_profile(profile).lines()))
        end = max(device.result_times[s.tx_id] for s in sealed)
        latencies_ms = sorted(
            (device.result_times[s.tx_id] - sent_at[s.tx_id]) * 1000 for s in sealed
        )
        accepted = sum(1 for s in sealed if device.results[s.tx_id].accepted)
        assert accepted == n, f"only {accepted} of {n} accepted"
        payload_bytes = statistics.mean(len(s.payload) for s in sealed)
    finally:
        device.close()
        for process in processes:
            process.stop()
        hub.close()
    return {
        "tx_per_s": n / (end - start),
        "p50_ms": latencies_ms[len(latencies_ms) // 2],
        "p99_ms": latencies_ms[int(len(latencies_ms) * 0.99)],
        "payload_bytes": payload_bytes,
        "machine_busy_pct": sampler.machine_busy_pct,
        "hub_cpu_pct": sum(sampler.hub_cpu_pct),
    }


def run_mosquitto(broker: PrivateBroker, n: int, payload_bytes: int) -> float:
    """Raw QoS 1 throughput, one publisher to one subscriber, same payload size."""
    done = threading.Event()
    received = [0]
    # Under the device prefix: the embedded broker's ACL lets anonymous clients only there.
    topic = f"{PREFIX}/dev/bench-{uuid.uuid4().hex[:12]}/peer"

    def on_message(*_: object) -> None:
        received[0] += 1
        if received[0] == n:
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(0)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    time.sleep(0.3)
    payload = b"x" * payload_bytes
    start = time.perf_counter()
    for _ in range(n):
        pub.publish(topic, payload, qos=1)
    finished = done.wait(RUN_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    for client in (pub, sub):
        client.disconnect()
        client.loop_stop()
    assert finished, f"mosquitto delivered {received[0]} of {n}"
    return n / elapsed


def _refund_mix(
    folder: Path, broker: PrivateBroker, n: int, workers: int, postgres: bool
) -> dict[str, float]:
    """The same run with one intent in four a refund, on the same broker."""
    url = f"sqlite:///{folder / 'hub-refunds.sqlite3'}"
    sqlite = run_hub(HubConfig(folder / "sq-r", url, None), broker, n, workers, "refunds")
    print(
        f"sqlite:     {sqlite['tx_per_s']:8.0f} tx/s  p50 {sqlite['p50_ms']:.1f} ms  "
        f"p99 {sqlite['p99_ms']:.1f} ms  (one in four a refund)"
    )
    out = {"refunds_sqlite_tx_per_s": sqlite["tx_per_s"], "refunds_p99_ms": sqlite["p99_ms"]}
    if postgres:
        with postgres_url() as pg_url:
            pg = run_hub(HubConfig(folder / "pg-r", pg_url, None), broker, n, workers, "refunds")
        print(f"postgres:   {pg['tx_per_s']:8.0f} tx/s  p99 {pg['p99_ms']:.1f} ms  (refunds)")
        out |= {
            "refunds_postgres_tx_per_s": pg["tx_per_s"],
            "refunds_postgres_p99_ms": pg["p99_ms"],
        }
    return out


def _postgres_scaling(
    folder: Path, broker: PrivateBroker, n: int, workers: int
) -> dict[str, float]:
    """PostgreSQL with `workers` hub processes, then with twice as many, each on a fresh
    database in the same run: the ratio is how far a second worker scales."""
    out: dict[str, float] = {}
    for count, name in ((workers, "postgres"), (workers * 2, f"postgres_{workers * 2}w")):
        with postgres_url() as url:
            pg = run_hub(HubConfig(folder / name, url, None), broker, n, count)
        print(
            f"postgres {count}w: {pg['tx_per_s']:7.0f} tx/s  p50 {pg['p50_ms']:.1f} ms  "
            f"p99 {pg['p99_ms']:.1f} ms"
        )
        out |= {f"{name}_tx_per_s": pg["tx_per_s"], f"{name}_p99_ms": pg["p99_ms"]}
        out |= {f"{name}_{k}": pg[k] for k in ("machine_busy_pct", "hub_cpu_pct")}
    out["pg_scaling_2w_over_1w"] = (
        out[f"postgres_{workers * 2}w_tx_per_s"] / out["postgres_tx_per_s"]
    )
    return out


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh database, dropped afterwards. The throwaway cluster keeps fsync and
    synchronous commit on, so the figure is what a real server would give."""
    with contextlib.ExitStack() as stack:
        admin_url = os.environ.get(PG_URL_ENV, "").strip()
        if not admin_url:
            admin_url = stack.enter_context(PgCluster(durable=True)).admin_url
        admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        stack.callback(admin_engine.dispose)
        name = f"tapcard_bench_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_engine.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--n", type=int, help="intents per database")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--profile", type=Path, metavar="RAW",
        help="sample the SQLite run's hub with py-spy into RAW (collapsed stacks) and say "
        "where its CPU went, paho's network thread included",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=1, help="hub processes on a shared subscription"
    )
    parser.add_argument(
        "--mix", choices=["purchases", "refunds"], default="purchases",
        help="refunds: also the mix with one refund in four, beside the purchase-only one",
    )  # fmt: skip
    args = parser.parse_args()
    n = args.n or (N_QUICK if args.quick else N_FULL)
    figures: dict[str, float] = {"n": n, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with PrivateBroker(folder / "broker", anonymous_devices=True) as broker:  # no logins
            sqlite_config = HubConfig(folder / "sq", f"sqlite:///{folder / 'hub.sqlite3'}", None)
            sqlite = run_hub(sqlite_config, broker, n, args.workers, profile=args.profile)
            print(
                f"sqlite:     {sqlite['tx_per_s']:8.0f} tx/s  p50 {sqlite['p50_ms']:.1f} ms  "
                f"p99 {sqlite['p99_ms']:.1f} ms  ({sqlite['payload_bytes']:.0f}-byte intents)"
            )
            figures |= {
                "sqlite_tx_per_s": sqlite["tx_per_s"],
                "p50_ms": sqlite["p50_ms"],
                "p99_ms": sqlite["p99_ms"],
                "payload_bytes": sqlite["payload_bytes"],
                "sqlite_machine_busy_pct": sqlite["machine_busy_pct"],
                "sqlite_hub_cpu_pct": sqlite["hub_cpu_pct"],
            }
            if not args.no_postgres:
                figures |= _postgres_scaling(folder, broker, n, args.workers)
            if args.mix == "refunds":
                figures |= _refund_mix(folder, broker, n, args.workers, not args.no_postgres)
            raw = run_mosquitto(broker, n, int(sqlite["payload_bytes"]))
            print(f"mosquitto:  {raw:8.0f} msg/s raw QoS 1, same payload size (the peer)")
            figures["mosquitto_msg_per_s"] = raw
            figures["sqlite_over_mosquitto"] = sqlite["tx_per_s"] / raw
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
