"""A chain of 1,000 devices in one run: idle, steady taps, a branch uplink cut and the
morning storm after an HQ outage.

100 branches of 10 devices (8 terminals, 2 kiosks), each device with its own Ed25519 key
and its own broker login (the embedded broker's per-device logins, hub/broker.py), are
simulated in a few worker processes (bench/fleet_devices.py: one paho client per device,
one thread per process) against `tapcard hub serve` (a separate process, dashboard on)
on a private mosquitto, on SQLite. Phases, in one run:

- idle: the hub's CPU (% of one core, from /proc/<pid>/stat) and RSS with every device
  connected and sending its Health heartbeat, per 1,000 devices;
- steady: the tap mix of bench/fleet_devices.MIX (purchases, top-ups, redemptions,
  snapshot queries) at TAPS_PER_S across the chain; p50/p99 publish-to-result;
- a branch uplink cut: the sockets of branch b000's devices are shut without an MQTT
  DISCONNECT (their wills fire) for CUT_S; the time until /api/fleet shows them all
  offline, whether /api/alerts raises the branch outage, and the time from the restore
  until they are online and their outboxes drained. The offline alert threshold is set
  below the cut (HQ's setting, hub/web/alert_thresholds.py; the default 120 s is longer
  than a 60 s cut on purpose);
- the morning storm: hub and broker killed (-9) together (HQ is down), the devices keep
  ringing up offline into their outboxes for OUTAGE_S, then broker and hub start; the
  time from the hub's start until every device is online (registry) and every outbox
  drained (taps stop at the restart, so drained means empty), the hub's peak RSS
  (VmHWM), devices that gave up (outbox full), and the fleet page's p99 (logged in,
  GET /fleet in a loop) while it drains;
- counted at the end over the whole run: every intent sent has one result in the
  database (else lost), no tx id or (device, seq) twice and no transfer from a bench
  device under an id it never sent (else doubled), and `verify` clean.

The peer, measured in the same run: raw mosquitto QoS 1 throughput of the same number of
messages (bench/hub_ingest.run_mosquitto, on a broker of its own).

    python bench/fleet.py [--quick] [--devices N]

--quick scales time down, not devices: a 4 s cut, a 6 s outage, 5 s windows (heartbeats
stay every 10 s, the chain's rate: 1,000 devices at 1 s would be ten times the load);
the fleet page gets at least PAGE_REQUESTS_MIN requests even when the drain is shorter.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.fleet_devices import DeviceSpec, serve
from bench.fleet_seed import PASSWORD, Seeded, count_once, seed
from bench.hub_ingest import run_mosquitto
from hub.broker import PrivateBroker, free_port, wait_for_port
from tests.hub.processes import HubProcess

if TYPE_CHECKING:
    from hub.config import HubConfig

DEVICES_PER_BRANCH = 10
WORKERS_N = 4
TAPS_PER_S = 40.0  # the chain's aggregate: 2.4 taps a minute per device at peak hour
CUT_BRANCH = "b000"
POLL_S = 0.1
CONNECT_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 600.0
STOP_JOIN_S = 0.5  # then terminated: its exit (seconds, with 250 clients) does nothing needed
PAYLOAD_BYTES = 600  # about one signed intent, for the mosquitto peer
# The page is timed while the storm drains; a short drain (--quick) still gets this many.
PAGE_REQUESTS_MIN = 20


@dataclass(frozen=True)
class Plan:
    heartbeat_s: float
    warmup_s: float  # heartbeats are spread over their period: past this, a steady flow
    idle_s: float
    steady_s: float
    cut_s: float
    offline_alert_s: int
    outage_s: float


FULL = Plan(heartbeat_s=10.0, warmup_s=10.0, idle_s=60.0, steady_s=60.0, cut_s=60.0,
            offline_alert_s=30, outage_s=600.0)  # fmt: skip
# The test's (tests/hub/test_fleet_bench.py): the same phases at 20 devices, seconds each.
TINY = Plan(heartbeat_s=10.0, warmup_s=0.5, idle_s=1.0, steady_s=2.0, cut_s=2.0,
            offline_alert_s=1, outage_s=2.0)  # fmt: skip
QUICK = Plan(heartbeat_s=10.0, warmup_s=2.0, idle_s=5.0, steady_s=5.0, cut_s=4.0, offline_alert_s=2,
             outage_s=6.0)  # fmt: skip


class Workers:
    """The device processes and their pipes."""

    def __init__(self, n: int) -> None:
        """Start n processes: their imports (2-5 s on a loaded machine) overlap the
        seeding and the hub's start; their devices come later (begin)."""
        ctx = mp.get_context("spawn")  # the parent has threads (broker follower, hub web)
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        self.begun = False
        for _ in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(child,))
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def begin(self, specs: list[DeviceSpec], broker: PrivateBroker, hub_key: str) -> None:
        """Each process its share of the devices, down its pipe (as a spawn argument,
        250 devices' specs fill the pipe start() writes, and each start waited for its
        process's imports in turn)."""
        n = len(self.pipes)
        for i, pipe in enumerate(self.pipes):
            pipe.send((specs[i::n], broker.host, broker.port, hub_key))
        self.begun = True

    def ask(self, *cmd: Any) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(cmd)
        return [pipe.recv() for pipe in self.pipes]

    def rates(self, heartbeat_s: float, taps_per_s: float) -> None:
        self.ask("rates", heartbeat_s, taps_per_s / len(self.pipes))

    def stats(self) -> dict[str, Any]:
        total: dict[str, Any] = {"latencies_ms": [], "query_ms": [], "pending_by_branch": {}}
        for part in self.ask("stats"):
            for key, value in part.items():
                if isinstance(value, list):
                    total[key] += value
                elif isinstance(value, dict):
                    for k, v in value.items():
                        total[key][k] = total[key].get(k, 0) + v
                else:
                    total[key] = total.get(key, 0) + value
        return total

    def stop(self) -> None:
        if self.begun:
            self.ask("stop")  # each has disconnected its devices when it answers
            self.begun = False
        for proc in self.procs:
            proc.join(STOP_JOIN_S)
            if proc.is_alive():  # nothing left to do but the interpreter's exit
                proc.terminate()
                proc.join()


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def wait_for(check: Any, timeout_s: float, what: str) -> float:
    """Seconds until `check()` is true."""
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout_s:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_S)
    return time.perf_counter() - start


def log_in(client: httpx.Client) -> None:
    page = client.get("/login").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": token})
    assert client.cookies.get("tapcard_session"), "login failed"


class HubWithWeb(HubProcess):
    """`tapcard hub serve` with its dashboard on a free port (HubProcess turns it off)."""

    def __init__(self, seeded: Seeded, broker: PrivateBroker) -> None:
        super().__init__(seeded.config.data_dir, seeded.config.db_url, broker)
        self.web_port = free_port()
        at = self.args.index("--no-web")
        self.args[at : at + 1] = ["--web", f"127.0.0.1:{self.web_port}", "--web-insecure"]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, wait_s: float = 60.0) -> None:
        super().start(wait_s)
        assert wait_for_port("127.0.0.1", self.web_port, wait_s), "no dashboard"

    def migrate(self) -> None:
        """`tapcard hub migrate` on the hub's database, with the code the next start runs:
        in a tree others commit to, a migration added during a 15-minute run would
        otherwise stop the restarted hub (it refuses an older schema)."""
        at = self.args.index("serve")
        subprocess.run([*self.args[:at], "migrate"], check=True, capture_output=True)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}", timeout=30)
        log_in(client)
        return client


def idle(
    workers: Workers, hub: HubWithWeb, broker: PrivateBroker, _s: Seeded, plan: Plan
) -> dict[str, float]:
    time.sleep(plan.warmup_s)
    assert broker.process is not None
    pids = {"hub": hub.pid, "mosquitto": broker.process.pid}
    before = {k: cpu_ticks(p) for k, p in pids.items()}
    start = time.perf_counter()
    time.sleep(plan.idle_s)
    elapsed = time.perf_counter() - start
    hz = 100.0  # os.sysconf("SC_CLK_TCK") on Linux
    cpu = {k: (cpu_ticks(p) - before[k]) / hz / elapsed * 100 for k, p in pids.items()}
    return {
        "idle_cpu_pct": cpu["hub"],
        "idle_mosquitto_cpu_pct": cpu["mosquitto"],
        "idle_rss_mib": status_kib(hub.pid, "VmRSS") / 1024,
    }


def steady(
    workers: Workers, _h: HubWithWeb, _b: PrivateBroker, _s: Seeded, plan: Plan
) -> dict[str, float]:
    workers.rates(plan.heartbeat_s, TAPS_PER_S)
    workers.ask("window")
    time.sleep(plan.steady_s)
    got = workers.stats()
    lat, queries = got["latencies_ms"], got["query_ms"]
    return {
        "steady_taps_per_s": TAPS_PER_S,
        "steady_intents": len(lat),
        "steady_p50_ms": pct(lat, 0.5),
        "steady_p99_ms": pct(lat, 0.99),
        "steady_query_p99_ms": pct(queries, 0.99),
    }


def _presence(client: httpx.Client) -> dict[str, str]:
    return {d["id"]: d["presence"] for d in client.get("/api/fleet").json()}


def _outage_raised(client: httpx.Client, branch: str) -> bool:
    found = client.get("/api/alerts").json()["alerts"]
    return any(a["branch"] == branch and a["kind"] in ("outage", "offline") for a in found)


def uplink_cut(
    workers: Workers, hub: HubWithWeb, _b: PrivateBroker, _s: Seeded, plan: Plan
) -> dict[str, float]:
    """Cut CUT_BRANCH for plan.cut_s while the rest of the chain keeps tapping."""
    with contextlib.closing(hub.client()) as web:
        mine = [d for d in _presence(web) if d.startswith(CUT_BRANCH + "-")]
        cut_at = time.perf_counter()
        workers.ask("cut", [CUT_BRANCH])

        def all_offline() -> bool:
            shown = _presence(web)
            return all(shown[d] == "offline" for d in mine)

        offline_s = wait_for(all_offline, max(plan.cut_s, 30.0), "the cut branch offline")
        alert_s = -1.0
        while time.perf_counter() - cut_at < plan.cut_s:
            if alert_s < 0 and _outage_raised(web, CUT_BRANCH):
                alert_s = time.perf_counter() - cut_at
            time.sleep(POLL_S * 5)
        backlog = workers.stats()["pending_by_branch"].get(CUT_BRANCH, 0)
        workers.ask("restore", [CUT_BRANCH])

        def back() -> bool:
            shown = _presence(web)
            pending = workers.stats()["pending_by_branch"].get(CUT_BRANCH, 0)
            return pending == 0 and all(shown[d] == "online" for d in mine)

        drain_s = wait_for(back, DRAIN_TIMEOUT_S, "the cut branch back and drained")
    return {
        "cut_devices": len(mine),
        "cut_offline_shown_s": offline_s,
        "cut_alert_s": alert_s,
        "cut_backlog": backlog,
        "cut_drain_s": drain_s,
    }


class PageTimer(threading.Thread):
    """GET /fleet in a loop, logged in, until stopped; the times in ms."""

    def __init__(self, hub: HubWithWeb) -> None:
        super().__init__(daemon=True)
        self.hub, self.errors = hub, 0
        self.times_ms: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        with contextlib.closing(self.hub.client()) as web:
            while not self.done.is_set() or len(self.times_ms) < PAGE_REQUESTS_MIN:
                start = time.perf_counter()
                ok = web.get("/fleet").status_code == 200
                self.times_ms.append((time.perf_counter() - start) * 1000)
                self.errors += not ok


def storm(
    workers: Workers, hub: HubWithWeb, broker: PrivateBroker, seeded: Seeded, plan: Plan
) -> dict[str, float]:
    """HQ down (hub and broker -9) for plan.outage_s while devices ring up offline."""
    hub.kill()
    broker.stop(kill=True)
    time.sleep(plan.outage_s)
    workers.rates(plan.heartbeat_s, 0)  # taps stop at the restart: drained means empty
    backlog = workers.stats()["pending"]
    hub.migrate()  # before the clock starts, like an operator's upgrade during the outage
    broker.start()
    started = time.perf_counter()
    hub.start()
    serving_s = time.perf_counter() - started
    pages = PageTimer(hub)
    pages.start()
    devices = len(seeded.specs)

    def online() -> bool:
        return workers.stats()["connected"] == devices and _registry_online(seeded) == devices

    online_s = wait_for(online, DRAIN_TIMEOUT_S, "every device online") + serving_s
    drain_s = (
        wait_for(lambda: workers.stats()["pending"] == 0, DRAIN_TIMEOUT_S, "outboxes drained")
        + online_s
    )
    pages.done.set()
    pages.join()
    got = workers.stats()
    return {
        "storm_outage_s": plan.outage_s,
        "storm_backlog": backlog,
        "storm_hub_serving_s": serving_s,
        "storm_online_s": online_s,
        "storm_drain_s": drain_s,
        "storm_peak_rss_mib": status_kib(hub.pid, "VmHWM") / 1024,
        "storm_gave_up": got["gave_up"],
        "fleet_page_p99_ms": pct(pages.times_ms, 0.99),
        "fleet_page_requests": len(pages.times_ms),
        "fleet_page_errors": pages.errors,
    }


def _registry_online(seeded: Seeded) -> int:
    import sqlalchemy as sa

    from hub import db

    with seeded.hub.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(db.devices.c.online.is_(True))
        return int(conn.execute(query).scalar_one())


def run(folder: Path, devices: int, plan: Plan) -> dict[str, float]:
    from hub.config import HubConfig

    config = HubConfig(folder / "hub", f"sqlite:///{folder / 'hub.sqlite3'}", None)
    workers = Workers(min(WORKERS_N, max(1, devices)))
    try:
        return _run(folder, config, devices, plan, workers)
    finally:
        workers.stop()


def _run(
    folder: Path, config: HubConfig, devices: int, plan: Plan, workers: Workers
) -> dict[str, float]:
    t0 = time.perf_counter()
    branches = max(1, devices // DEVICES_PER_BRANCH)
    seeded = seed(config, branches, min(devices, DEVICES_PER_BRANCH), plan.offline_alert_s)
    figures: dict[str, float] = {"devices": len(seeded.specs), "heartbeat_s": plan.heartbeat_s}
    figures["seed_s"] = time.perf_counter() - t0
    print(f"seeded {len(seeded.specs)} devices in {figures['seed_s']:.1f} s", file=sys.stderr)
    broker = PrivateBroker(folder / "broker", registry=seeded.hub.engine)  # real logins
    broker.start()
    specs = [
        DeviceSpec(s.device_id, s.key_hex, broker.device_address(s.device_id).password,
                   s.branch, s.kind, s.cards)
        for s in seeded.specs
    ]  # fmt: skip
    hub = HubWithWeb(seeded, broker)
    hub.start()
    hub_key = bytes(seeded.hub.secrets.hub_key.verify_key).hex()
    workers.begin(specs, broker, hub_key)
    try:
        workers.rates(plan.heartbeat_s, 0)
        n = len(specs)
        figures["connect_s"] = wait_for(
            lambda: workers.stats()["connected"] == n and _registry_online(seeded) == n,
            CONNECT_TIMEOUT_S,
            "every device connected",
        )
        for phase in (idle, steady, uplink_cut, storm):
            step = phase(workers, hub, broker, seeded, plan)
            print(phase.__name__, json.dumps({k: round(v, 2) for k, v in step.items()}),
                  file=sys.stderr, flush=True)  # fmt: skip
            figures |= step
        sent = set().union(*workers.ask("sent_ids"))
        got = workers.stats()
    finally:
        workers.stop()
        hub.stop()
        broker.stop()
    counted = count_once(seeded.hub, sent)
    seeded.hub.close()
    figures |= {f"storm_{k}": v for k, v in counted.items()}
    figures |= {"results_repeated": got["results_repeated"], "bad_messages": got["bad_messages"]}
    figures["idle_cpu_pct_per_1000"] = figures["idle_cpu_pct"] * 1000 / n
    figures["idle_rss_mib_per_1000"] = figures["idle_rss_mib"] * 1000 / n
    with PrivateBroker(folder / "peer", anonymous_devices=True) as peer:  # no logins
        figures["mosquitto_msg_per_s"] = run_mosquitto(peer, len(sent), PAYLOAD_BYTES)
    return figures


def report(f: dict[str, float]) -> None:
    n = int(f["devices"])
    print(f"{n} devices, heartbeat every {f['heartbeat_s']:g} s; seeded in {f['seed_s']:.1f} s, "
          f"all connected in {f['connect_s']:.1f} s")  # fmt: skip
    print(f"idle: hub {f['idle_cpu_pct']:.1f} % of a core, {f['idle_rss_mib']:.0f} MiB RSS "
          f"({f['idle_cpu_pct_per_1000']:.1f} % per 1,000 devices); mosquitto "
          f"{f['idle_mosquitto_cpu_pct']:.1f} %")  # fmt: skip
    print(f"steady: {f['steady_taps_per_s']:g} taps/s, {f['steady_intents']:.0f} intents, "
          f"p50 {f['steady_p50_ms']:.1f} ms, p99 {f['steady_p99_ms']:.1f} ms; "
          f"query p99 {f['steady_query_p99_ms']:.1f} ms")  # fmt: skip
    print(f"uplink cut ({f['cut_devices']:.0f} devices): offline shown after "
          f"{f['cut_offline_shown_s']:.2f} s, alert after {f['cut_alert_s']:.1f} s, backlog "
          f"{f['cut_backlog']:.0f} drained {f['cut_drain_s']:.1f} s after the restore")  # fmt: skip
    print(f"storm: {f['storm_outage_s']:g} s down, {f['storm_backlog']:.0f} intents waiting; "
          f"all online {f['storm_online_s']:.1f} s, drained {f['storm_drain_s']:.1f} s after "
          f"the start (serving after {f['storm_hub_serving_s']:.1f} s); peak RSS "
          f"{f['storm_peak_rss_mib']:.0f} MiB; gave up {f['storm_gave_up']:.0f}; fleet page "
          f"p99 {f['fleet_page_p99_ms']:.0f} ms over {f['fleet_page_requests']:.0f}")  # fmt: skip
    print(f"whole run: sent {f['storm_sent']:.0f}, lost {f['storm_lost']:.0f}, doubled "
          f"{f['storm_doubled']:.0f}, refused {f['storm_refused']:.0f}, verify errors "
          f"{f['storm_verify_errors']:.0f}; mosquitto peer {f['mosquitto_msg_per_s']:.0f} "
          "msg/s for the same count")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="time scaled down, ~1 minute")
    parser.add_argument("--devices", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tapcard-fleet-") as tmp:
        figures = run(Path(tmp), args.devices, QUICK if args.quick else FULL)
    report(figures)
    figures["storm_dup"] = figures["storm_doubled"]
    ok = figures["storm_lost"] == figures["storm_dup"] == figures["storm_verify_errors"] == 0
    print(json.dumps({k: round(v, 3) for k, v in figures.items()} | {"ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
