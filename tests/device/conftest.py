"""Device fixtures: a real hub (`HubService` in process) on a private mosquitto per test,
devices registered at that hub, and runtimes built from their provisioning bundles.

Each test gets its own broker because devices and the hub keep persistent sessions and
retained messages that must not leak from one test into the next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from hub.broker import PrivateBroker
from hub.service import HubService
from tapcard.clock import Clock
from tapcard.device import link
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tapcard.readers.base import CardReader
from tapcard.wire.keys import signing_key_text, verify_key_text
from tests.conftest import Seeded, broker_address

WAIT_S = 20.0


def wait_until(check: Callable[[], bool], timeout_s: float = WAIT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or check}")
        time.sleep(0.02)


def bundle_json(
    seeded: Seeded, device_id: str, broker: PrivateBroker, kind: str = "terminal"
) -> bytes:
    """A device registered at the hub as `kind`, and its bundle saying the same: the
    device checks the capability table for its kind before it queues anything."""
    key = seeded.add_device(device_id, kind)
    secrets = seeded.hub.secrets
    data = {
        "device_id": device_id,
        "branch_id": "shop-1",
        "kind": kind,
        "device_key": signing_key_text(key),
        "hub_public_key": verify_key_text(secrets.hub_key.verify_key),
        "issuer_public_key": verify_key_text(secrets.issuer_key.verify_key),
        "broker": f"{broker.host}:{broker.port}",
    }
    return json.dumps(data).encode()


@dataclass
class Rig:
    """A hub and its broker; `device()` adds a started runtime that is stopped after."""

    seeded: Seeded
    broker: PrivateBroker
    service: HubService
    tmp: Path
    runtimes: list[DeviceRuntime] = field(default_factory=list)
    bundles: dict[str, bytes] = field(default_factory=dict)

    def bundle(self, device_id: str) -> Bundle:
        if device_id not in self.bundles:
            self.bundles[device_id] = bundle_json(self.seeded, device_id, self.broker)
        return Bundle.parse(self.bundles[device_id])

    def device(
        self,
        device_id: str = "kiosk-2",
        reader: CardReader | None = None,
        online: bool = True,
        clock: Clock | None = None,
    ) -> DeviceRuntime:
        bundle = self.bundle(device_id)
        runtime = DeviceRuntime(bundle, self.tmp / device_id, reader, clock=clock)
        runtime.start()
        self.runtimes.append(runtime)
        if online:
            wait_until(lambda: runtime.link.connected, what="device connected")
            wait_until(lambda: runtime.rules_version >= 1, what="rules at the device")
        return runtime

    def stop_device(self, runtime: DeviceRuntime) -> None:
        self.runtimes.remove(runtime)
        runtime.stop()

    def count(self, table: sa.Table, **where: object) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        with self.seeded.hub.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def balances(self, member_index: int) -> dict[str, int]:
        from hub import admin

        with self.seeded.hub.engine.connect() as conn:
            view = admin.member_view(conn, self.seeded.members[member_index])
        return dict(view["balances"])


@pytest.fixture(autouse=True)
def fast_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests patch the link's waits down instead of adding test-only code paths."""
    monkeypatch.setattr(link, "HEARTBEAT_S", 1.0)
    monkeypatch.setattr(link, "RESEND_AFTER_S", 3.0)
    monkeypatch.setattr(link, "RESEND_AFTER_S_MAX", 6.0)


@pytest.fixture
def rig(seeded_sqlite: Seeded, own_broker: PrivateBroker, tmp_path: Path) -> Iterator[Rig]:
    service = HubService(seeded_sqlite.hub, broker_address(own_broker))
    service.start()
    assert service.wait_connected(10)
    instance = Rig(seeded_sqlite, own_broker, service, tmp_path)
    yield instance
    for runtime in list(instance.runtimes):
        runtime.stop()
    service.stop()


def transfers_of(rig: Rig, device_id: str) -> int:
    return rig.count(db.transfers, device_id=device_id)
