"""Dashboard response times over a large ledger at 200 and 1,000 devices, and how fast a
dead device shows.

Seeds a SQLite hub with 200 devices in 20 branches and 1,000,000 ledger legs
(250,000 purchases of 4 legs each: cash/sales in cents, points issued/earned), plus one
result and one sale line per purchase and 20,000 members with accounts. Rows go in with
executemany straight on the driver (hub.db.bulk_insert) in a few transactions, spread
over the last 90 days; every transfer balances per asset, so the reports are
consistent. Then a real hub service (private mosquitto) and the dashboard (uvicorn)
run; we time (p99) the fleet page plain and with filters (state and branch, a search),
the alerts page, a member's page and the reports (turnover and top members for the last
30 days, this week against the last, points); then 800 more devices in 80 more branches
go in (1,000 devices, a seventh of them offline) and the same pages are timed again, in
the same run over the same ledger. Between the two, kill -9 a device-like process to
time its death until the event stream shows it offline (at 200 devices).

    python bench/dashboard.py [--quick]

The last line of output is one JSON object: `at_200` and `at_1000` with each page's
p99, `page_p99_ms` (the worst at 1,000 devices, target <= PAGE_P99_MS_TARGET) and
`offline_shown_s`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

# The project's root first: a dependency (python-barcode) installs a top-level `tests`
# package of its own, which would hide ours.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub import db, member_days
from hub.admin.devices import add_branch
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.posting import Transfer, add_to_daily
from hub.rulestore import parse_rules, store_rules
from hub.service import HubService
from hub.web import auth
from hub.web.app import create_app
from hub.web.server import WebServer
from hub.web.settings import WebSettings
from tapcard.domain.ledger import Leg
from tapcard.domain.model import Asset, MemberStatus, TxKind
from tapcard.samples import sample_rules_bytes
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.clock import TEST_CLOCK, pin_environment, pinned_now_ms, pinned_today

BRANCHES_N = 20
DEVICES_N = 200
DEVICES_MORE_N = 800  # added after the first figures: 1,000 devices
DEVICES_PER_BRANCH = DEVICES_N // BRANCHES_N
PAGE_P99_MS_TARGET = 300
OFFLINE_WAIT_S = 20.0  # the event stream not showing the death by then: reported as null
LEGS_PER_TRANSFER = 4
DAYS_SPREAD = 90
CHUNK_ROWS = 50_000
PASSWORD = "bench-password-1"
DAY_MS = 86_400_000


def _device_rows(live_key: Any, now: int, first: int, count: int) -> list[dict[str, Any]]:
    """Devices `first`.. (ten to a branch past the first 200); a seventh offline."""
    rows = []
    for d in range(first, first + count):
        key = live_key if d == 0 else new_signing_key()
        branch = d % BRANCHES_N if d < DEVICES_N else d // DEVICES_PER_BRANCH
        rows.append(
            {
                "id": f"kiosk-{d:04d}",
                "branch_id": f"b{branch:02d}",
                "kind": "kiosk",
                "public_key": verify_key_text(key.verify_key),
                "state": "active",
                "created_ms": now,
                "online": d % 7 != 0,
                "status_ms": now,
                "last_seen_ms": now - (d % 60) * 1000,
                "health": json.dumps(
                    {"reader": "ok", "outbox_depth": d % 9, "disk_free_bytes": 2**33}
                ),
                "software_version": "0.1.0",
                "rules_version": 1,
                "denylist_version": 0,
                "seq_max": 0,
            }
        )
    return rows


def _seed_registry(hub: Hub, members_n: int) -> str:
    """Branches, devices (kiosk-0000 gets a real key for the live device) and members."""
    live_key = new_signing_key()
    now = pinned_now_ms()
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
        for b in range(BRANCHES_N):
            add_branch(conn, f"b{b:02d}", f"Branch {b}", "bench", "bench")
        db.bulk_insert(conn, db.devices, _device_rows(live_key, now, 0, DEVICES_N))
        today = pinned_today()
        db.bulk_insert(
            conn,
            db.members,
            [
                {
                    "id": i,
                    "name": f"Member {i}",
                    "phone": f"1380{i:07d}",
                    "id_number_masked": "",
                    "id_number_hash": "",
                    "address": "",
                    "birthday": None,
                    "branch_id": f"b{i % BRANCHES_N:02d}",
                    "tier": "regular",
                    "joined_on": today - dt.timedelta(days=i % DAYS_SPREAD),
                    "period_start": today,
                    "period_growth": 0,
                    "last_activity_on": today,
                    "state": MemberStatus.ACTIVE.value,
                }
                for i in range(1, members_n + 1)
            ],
        )
        db.bulk_insert(
            conn,
            db.accounts,
            [
                {
                    "code": f"m:{i}:{asset}",
                    "asset": asset,
                    "member_id": i,
                    "balance": (i * 37) % 5000,
                }
                for i in range(1, members_n + 1)
                for asset in ("cents", "points", "growth")
            ],
        )
        auth.add_user(conn, "bench", PASSWORD, auth.Role.ADMIN, None, "bench")
    return live_key.encode().hex()


def _add_devices(hub: Hub) -> None:
    """800 more devices in 80 more branches: 1,000 devices in 100 branches."""
    first_branch = DEVICES_N // DEVICES_PER_BRANCH
    last_branch = (DEVICES_N + DEVICES_MORE_N) // DEVICES_PER_BRANCH
    with hub.transaction() as conn:
        for b in range(first_branch, last_branch):
            add_branch(conn, f"b{b:02d}", f"Branch {b}", "bench", "bench")
        rows = _device_rows(None, pinned_now_ms(), DEVICES_N, DEVICES_MORE_N)
        db.bulk_insert(conn, db.devices, rows)


Row = dict[str, Any]


def _transfer_rows(i: int, members_n: int, now_ms: int) -> tuple[Row, tuple[Row, ...], Row, Row]:
    device = i % DEVICES_N
    member = i % members_n + 1
    tx_id = str(uuid.UUID(int=i + 1))
    created = now_ms - (i * 7919) % (DAY_MS * DAYS_SPREAD)
    cents, points = 1_000 + i % 9_000, 10 + i % 90
    transfer: Row = {
        "tx_id": tx_id,
        "kind": "purchase",
        "device_id": f"kiosk-{device:04d}",
        "seq": i // DEVICES_N + 1,
        "card_id": None,
        "member_id": member,
        "branch_id": f"b{device % BRANCHES_N:02d}",
        "rules_version": 1,
        "created_ms": created,
        "applied_ms": created,
        "offline": False,
        "actor": f"staff-{i % 50}",
        "reason": "",
        "detail": "{}",
    }
    legs: tuple[Row, ...] = (
        {"tx_id": tx_id, "account": "s:cash", "asset": "cents", "debit": cents, "credit": 0},
        {"tx_id": tx_id, "account": "s:sales", "asset": "cents", "debit": 0, "credit": cents},
        {
            "tx_id": tx_id,
            "account": "s:points_issued",
            "asset": "points",
            "debit": points,
            "credit": 0,
        },
        {
            "tx_id": tx_id,
            "account": f"m:{member}:points",
            "asset": "points",
            "debit": 0,
            "credit": points,
        },
    )
    result: Row = {
        "tx_id": tx_id,
        "device_id": transfer["device_id"],
        "seq": transfer["seq"],
        "digest": "0" * 64,
        "accepted": True,
        "reason": 0,
        "body": "{}",
        "applied_ms": created,
    }
    line: Row = {
        "tx_id": tx_id,
        "line_no": 1,
        "category": ("grocery", "fuel", "wash", "cafe")[i % 4],
        "sku": "",
        "quantity": 1,
        "gross_cents": cents,
        "created_ms": created,
        "branch_id": transfer["branch_id"],
    }
    return transfer, legs, result, line


def _booked(row: dict[str, Any]) -> Transfer:
    return Transfer(
        row["tx_id"],
        TxKind(row["kind"]),
        row["member_id"],
        row["rules_version"],
        row["created_ms"],
        row["applied_ms"],
        branch_id=row["branch_id"],
    )


def _seed_ledger(hub: Hub, transfers_n: int, members_n: int) -> None:
    now_ms = pinned_now_ms()
    for start in range(0, transfers_n, CHUNK_ROWS // LEGS_PER_TRANSFER):
        stop = min(transfers_n, start + CHUNK_ROWS // LEGS_PER_TRANSFER)
        rows = [_transfer_rows(i, members_n, now_ms) for i in range(start, stop)]
        with hub.transaction() as conn:
            db.bulk_insert(conn, db.transfers, [r[0] for r in rows])
            db.bulk_insert(conn, db.legs, [leg for r in rows for leg in r[1]])
            db.bulk_insert(conn, db.results, [r[2] for r in rows])
            db.bulk_insert(conn, db.sale_lines, [r[3] for r in rows])
            daily: dict[tuple[int, str, str], tuple[int, int, int]] = {}
            spend: member_days.MemberDays = {}
            for transfer, legs, _result, _line in rows:
                booked = [
                    Leg(leg["account"], Asset(leg["asset"]), leg["debit"], leg["credit"])
                    for leg in legs
                ]
                add_to_daily(daily, transfer["created_ms"], transfer["branch_id"], booked)
                member_days.add(spend, _booked(transfer), booked)
            db.add_daily_totals(conn, daily)  # as the ledger keeps them
            member_days.write(conn, spend)


def _p99_ms(client: httpx.Client, path: str, n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    return times[min(len(times) - 1, int(len(times) * 0.99))]


def _log_in(client: httpx.Client) -> None:
    page = client.get("/login").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": token})
    assert client.cookies.get("tapcard_session"), "login failed"


def _offline_shown_s(client: httpx.Client, broker: PrivateBroker, key_hex: str) -> float:
    args = [
        sys.executable,
        __file__,
        "--device",
        broker.host,
        str(broker.port),
        "kiosk-0000",
        key_hex,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
    try:
        with client.stream("GET", "/api/events", timeout=OFFLINE_WAIT_S) as stream:
            lines = stream.iter_lines()
            _until(lines, "online")
            killed = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            _until(lines, "offline")
            return time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _until(lines: Any, presence: str) -> None:
    deadline = time.monotonic() + OFFLINE_WAIT_S
    for line in lines:
        if time.monotonic() > deadline:
            raise TimeoutError(f"kiosk-0000 not shown {presence} within {OFFLINE_WAIT_S} s")
        if line.startswith("data: "):
            devices = json.loads(line[6:])["devices"]
            if any(d["id"] == "kiosk-0000" and d["presence"] == presence for d in devices):
                return
    raise RuntimeError("event stream ended")


def _device(host: str, port: str, device_id: str, key_hex: str) -> None:
    """A device-like process: signed retained last will, online status, then waits."""
    import paho.mqtt.client as mqtt
    from nacl.signing import SigningKey
    from paho.mqtt.enums import CallbackAPIVersion

    from tapcard.wire import messages as m
    from tapcard.wire.envelope import seal
    from tapcard.wire.topics import Family, device_topic

    key, topic, at_ms = (
        SigningKey(bytes.fromhex(key_hex)),
        device_topic(device_id, Family.STATUS),
        pinned_now_ms(),
    )
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-{device_id}", protocol=mqtt.MQTTv5
    )
    will = m.Status(device=device_id, online=False, at_ms=at_ms)
    client.will_set(topic, seal(key, device_id, topic, will), qos=1, retain=True)
    client.connect(host, int(port), keepalive=5)
    client.loop_start()
    online = m.Status(device=device_id, online=True, at_ms=at_ms)
    client.publish(topic, seal(key, device_id, topic, online), qos=1, retain=True).wait_for_publish(
        10
    )
    print("up", flush=True)
    time.sleep(120)


def _pages(client: httpx.Client, requests_n: int) -> dict[str, float]:
    """Each page's p99 in ms: fleet plain and filtered, alerts, a member, the reports."""
    today = pinned_today()
    since = (today - dt.timedelta(days=30)).isoformat()
    week = (today - dt.timedelta(days=today.weekday())).isoformat()
    paths = {
        "fleet": "/fleet",
        "fleet_filtered": "/fleet?state=down&branch=b03",
        "fleet_search": "/fleet?q=kiosk-01",
        "alerts": "/alerts",
        "member": "/members/1",
        "members_list": "/members",
        "report_turnover_30d": f"/reports?name=turnover&start={since}",
        "report_top_members_30d": f"/reports?name=top_members&start={since}",
        "report_compare_week": f"/reports?name=compare&start={week}&end={today.isoformat()}",
        "report_points_30d": f"/reports?name=points&start={since}",
    }
    return {f"{k}_p99_ms": round(_p99_ms(client, v, requests_n), 1) for k, v in paths.items()}


def _worst(figures: dict[str, float]) -> float:
    return max(v for k, v in figures.items() if k.endswith("_p99_ms"))


def run(quick: bool) -> dict[str, Any]:
    transfers_n = 25_000 if quick else 250_000
    members_n = 2_000 if quick else 20_000
    requests_n = 10 if quick else 100
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # The seeded times are the test clock's: the hub, its service and the device process
        # must read it too, or every device looks months silent and the hub refuses the
        # live device's status as out of its time window.
        pin_environment()
        config = HubConfig(folder / "hub", f"sqlite:///{folder / 'hub.sqlite3'}", None)
        hub = Hub.init(config, clock=TEST_CLOCK)
        started = time.perf_counter()
        key_hex = _seed_registry(hub, members_n)
        _seed_ledger(hub, transfers_n, members_n)
        seed_s = time.perf_counter() - started
        print(
            f"seeded {transfers_n * LEGS_PER_TRANSFER:,} legs, {DEVICES_N} devices",
            f"in {seed_s:.1f} s",
            flush=True,
        )
        broker = PrivateBroker(folder / "broker", anonymous_devices=True)  # clients: no logins
        broker.start()
        service = HubService(hub, broker.hub_address, worker="bench")
        service.start()
        server = WebServer(create_app(hub, WebSettings(cookie_secure=False)), "127.0.0.1", 0)
        server.start()
        try:
            assert service.wait_connected(10)
            with httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as client:
                _log_in(client)
                at_200 = _pages(client, requests_n)
                print("at 200 devices:", json.dumps(at_200), flush=True)
                offline_s: float | None = None
                try:
                    offline_s = max(
                        _offline_shown_s(client, broker, key_hex) for _ in range(1 if quick else 3)
                    )
                except (TimeoutError, httpx.ReadTimeout) as exc:
                    print("offline not measured:", exc, flush=True)
                print("device killed -> shown offline:", offline_s, "s", flush=True)
                _add_devices(hub)
                at_1000 = _pages(client, requests_n)
                print("at 1000 devices:", json.dumps(at_1000), flush=True)
        finally:
            server.stop()
            service.stop()
            broker.stop()
            hub.close()
    return {
        "legs": transfers_n * LEGS_PER_TRANSFER,
        "devices": DEVICES_N + DEVICES_MORE_N,
        "requests_per_page": requests_n,
        "seed_s": round(seed_s, 1),
        "at_200": at_200,
        "at_1000": at_1000,
        "page_p99_ms_at_200": _worst(at_200),
        "page_p99_ms": _worst(at_1000),
        "page_p99_ms_target": PAGE_P99_MS_TARGET,
        "offline_shown_s": None if offline_s is None else round(offline_s, 3),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--device":
        _device(*sys.argv[2:6])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100k legs, 10 requests a page: within a minute"
    )
    args = parser.parse_args()
    random.seed(1)
    figures = run(args.quick)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
