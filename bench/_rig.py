"""Shared set-up for the device benchmarks: a seeded SQLite hub, a private mosquitto,
the hub's ingest in process and a provisioned device data folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub import admin
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.service import HubService
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tapcard.samples import sample_rules_bytes
from tapcard.wire.keys import new_signing_key, signing_key_text, verify_key_text


@dataclass
class BenchRig:
    hub: Hub
    broker: PrivateBroker
    service: HubService
    bundle: Bundle
    device_dir: Path
    cards: list[str]

    def close(self) -> None:
        self.service.stop()
        self.broker.stop()
        self.hub.close()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def make_rig(folder: Path, cards: int = 2) -> BenchRig:
    hub = Hub.init(HubConfig(folder / "hub", f"sqlite:///{folder / 'hub.sqlite3'}", None))
    key = new_signing_key()
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
        admin.add_branch(conn, "shop-1", "Shop one", "chain", "bench")
        admin.add_device(
            conn, "kiosk-b", "shop-1", "terminal", verify_key_text(key.verify_key), "b"
        )
    rules = hub.rules.latest()
    card_ids = []
    with hub.transaction() as conn:
        for i in range(cards):
            member = admin.add_member(
                conn,
                admin.NewMember(name=f"M {i}", phone=f"1390000{i:04d}", branch_id="shop-1"),
                rules,
                "",
                "bench",
            )
            card_ids.append(admin.issue_card(conn, member, rules, "bench"))
    broker = PrivateBroker(folder / "broker", anonymous_devices=True)  # bench clients: no logins
    broker.start()
    service = HubService(hub, broker.hub_address)
    service.start()
    assert service.wait_connected(10)
    bundle = Bundle.parse(
        json.dumps(
            {
                "device_id": "kiosk-b",
                "branch_id": "shop-1",
                "kind": "kiosk",
                "device_key": signing_key_text(key),
                "hub_public_key": verify_key_text(hub.secrets.hub_key.verify_key),
                "issuer_public_key": verify_key_text(hub.secrets.issuer_key.verify_key),
                "broker": f"{broker.host}:{broker.port}",
            }
        ).encode()
    )
    return BenchRig(hub, broker, service, bundle, folder / "device", card_ids)


def ready_runtime(rig: BenchRig, **kw: object) -> DeviceRuntime:
    runtime = DeviceRuntime(rig.bundle, rig.device_dir, **kw)  # type: ignore[arg-type]
    runtime.start()
    wait_until(lambda: runtime.link.connected and runtime.rules_version >= 1, 20, "device up")
    return runtime
