"""The windowed demo: hub and broker in this process, kiosk and terminal as children.

Devices are provisioned through the same commands an operator uses
(`tapcard hub device add`, `tapcard device provision`), once; the broker keeps its port
in the data folder so the bundles stay valid across runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from hub import db
from hub.app import Hub
from hub.broker import PrivateBroker, free_port
from hub.config import HubConfig
from hub.service import HubService
from hub.staff import add_staff
from launcher.demo_seed import ACTOR, DEMO_BRANCH, HUB_CONNECT_TIMEOUT_S, RunCommand, seed
from tapcard.domain.model import StaffRole

DEMO_APPS = (("kiosk", "demo-kiosk-ui"), ("terminal", "demo-terminal"))
MANAGER_ID = "demo-manager"
MANAGER_PIN = "1234"
CHILD_STOP_TIMEOUT_S = 10.0
WATCH_INTERVAL_S = 0.5


def run_windows(data_dir: Path, run_command: RunCommand, lang: str = "en") -> int:
    url = f"sqlite:///{data_dir / 'hub.sqlite3'}"
    hub = Hub.init(HubConfig.from_env(data_dir=str(data_dir), db_url=url))
    _, cards = seed(hub, data_dir)
    broker = PrivateBroker(  # each device logs in as itself (the bundle has its password)
        data_dir / "broker", port=_broker_port(data_dir), registry=hub.engine
    )
    broker.start()
    service = HubService(hub, broker.hub_address)  # the one client that may publish config
    children: list[subprocess.Popen[bytes]] = []
    try:
        app_dirs = _provision(run_command, data_dir, url, broker.port)
        _seed_manager(hub)
        service.start()
        if not service.wait_connected(HUB_CONNECT_TIMEOUT_S):
            print("error: the hub could not reach its broker")
            return 1
        children = [_spawn(program, folder, lang) for program, folder in app_dirs]
        _print_help(data_dir, app_dirs, cards)
        return _wait(children)
    finally:
        _stop_children(children)
        service.stop()
        broker.stop()
        hub.close()


def _broker_port(data_dir: Path) -> int:
    """The same port on every run: the devices' bundles name it."""
    path = data_dir / "broker.port"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(str(free_port()))
    return int(path.read_text().strip())


def _provision(
    run_command: RunCommand, data_dir: Path, url: str, port: int
) -> list[tuple[str, Path]]:
    folders = []
    for kind, device_id in DEMO_APPS:
        folder = data_dir / device_id
        if not (folder / "bundle.json").exists():
            bundle = data_dir / f"{device_id}.bundle.json"
            hub_args = ["hub", "--data", str(data_dir), "--db", url]
            # No --broker: this hub runs the broker, so the bundle gets the device's login.
            add = ["device", "add", device_id, "--branch", DEMO_BRANCH, "--kind", kind]
            add += ["--connect", f"127.0.0.1:{port}"]
            if run_command([*hub_args, *add, "--out", str(bundle)]) != 0:
                raise SystemExit(f"could not add the demo {kind}")
            if run_command(["device", "provision", str(bundle), "--data", str(folder)]) != 0:
                raise SystemExit(f"could not provision the demo {kind}")
        folders.append((kind, folder))
    return folders


def _seed_manager(hub: Hub) -> None:
    with hub.transaction() as conn:
        if conn.execute(sa.select(db.staff.c.id).where(db.staff.c.id == MANAGER_ID)).first():
            return
        add_staff(
            conn, MANAGER_ID, "Demo Manager", DEMO_BRANCH, StaffRole.MANAGER, MANAGER_PIN, ACTOR
        )


def _spawn(program: str, folder: Path, lang: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "launcher.cli", program, "--data", str(folder), "--lang", lang]
    return subprocess.Popen(args)


def _print_help(data_dir: Path, app_dirs: list[tuple[str, Path]], cards: list[str]) -> None:
    kiosk = dict(app_dirs)["kiosk"]
    issuer = data_dir / "keys" / "issuer.key"
    print("tapcard demo: hub, broker, kiosk and terminal are running.")
    print(
        f"  tap a card on the kiosk:  tapcard device tap {cards[0]} --data {kiosk} "
        f"--issuer-key {issuer}"
    )
    print(f"  take it off again:        tapcard device tap --remove --data {kiosk}")
    print(f"  staff terminal login:     PIN {MANAGER_PIN} ({MANAGER_ID}, {StaffRole.MANAGER})")
    print("  Ctrl-C stops everything.", flush=True)


def _wait(children: list[subprocess.Popen[bytes]]) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        if any(child.poll() is not None for child in children):
            break  # a window was closed: end the demo
        stop.wait(WATCH_INTERVAL_S)
    return 0


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(timeout=CHILD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
