"""Backups, restore drills and a corrupted database at start.

Scenario: a kiosk keeps publishing intents while `tapcard hub backup` runs against the
live hub. The backup restored into a fresh database passes `verify` and holds every
transaction the kiosk had been answered for before the backup began; the kiosk then
sends everything again to a hub on the restored database: what the backup had is answered
from its stored results (not booked twice), the rest is booked once. A device runtime
queues top-ups while its hub is lost; the hub comes back from the backup and gets them
from the outbox. Backups rotate; PostgreSQL goes through pg_dump / pg_restore; a
garbage database file stops `tapcard hub serve` with a pointer to `tapcard hub restore`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.deploy import backup as backups
from hub.service import HubService
from hub.verify import verify_ledger
from launcher.cli import main as tapcard_main
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tapcard.device.scripted import ScriptedDevice
from tests.conftest import Seeded, broker_address, seed_hub
from tests.device.conftest import bundle_json, wait_until
from tests.hub.processes import HubProcess, ResendingDevice
from tests.hub.test_faults import _intents
from tests.pgcluster import client_bindir

DRILL_INTENTS_N = 1_500
DRAIN_TIMEOUT_S = 90.0


def _cli(config: HubConfig, *args: str) -> int:
    return tapcard_main(["hub", "--data", str(config.data_dir), "--db", config.db_url, *args])


def _tx_ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(sa.select(db.transfers.c.tx_id))}


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[tuple[Seeded, HubConfig]]:
    config = HubConfig(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.sqlite3'}", None)
    seeded = seed_hub(config)
    yield seeded, config
    seeded.hub.close()


def _device(seeded: Seeded, broker: PrivateBroker) -> ScriptedDevice:
    key = seeded.hub.secrets.hub_key.verify_key
    return ScriptedDevice(seeded.device_id, seeded.device_key, key, broker.host, broker.port)


def test_restore_drill_backup_during_load(
    sqlite_hub: tuple[Seeded, HubConfig], own_broker: PrivateBroker, tmp_path: Path
) -> None:
    seeded, config = sqlite_hub
    hub_proc = HubProcess(config.data_dir, config.db_url, own_broker)
    hub_proc.start()
    device = _device(seeded, own_broker)
    restored = HubConfig(config.data_dir, f"sqlite:///{tmp_path / 'restored.sqlite3'}", None)
    try:
        sender = ResendingDevice(device)
        sealed = _intents(device, seeded.cards, DRILL_INTENTS_N)
        sender.send_all(sealed[:1])
        sender.drain(DRAIN_TIMEOUT_S, resend_every_s=0.5)
        sender.send_all(sealed[1:])
        wait_until(lambda: len(device.results) >= DRILL_INTENTS_N // 3, 60, "a third booked")
        acked_before = {str(tx) for tx in list(device.results)}
        assert _cli(config, "backup", "--dest", str(tmp_path / "backups")) == 0
        in_flight = len(device.results)
        sender.drain(DRAIN_TIMEOUT_S)
        assert in_flight < DRILL_INTENTS_N  # the backup ran under load
        assert hub_proc.stop() == 0, hub_proc.log()

        [backup_file] = backups.backups_in(tmp_path / "backups")
        assert _cli(restored, "restore", str(backup_file)) == 0
        assert _cli(restored, "verify") == 0
        restored_hub = Hub.open(restored)
        in_backup = _tx_ids(restored_hub.engine)
        restored_hub.close()
        assert acked_before <= in_backup
        assert len(in_backup) < DRILL_INTENTS_N

        # The devices send everything again to the restored hub: nothing doubled.
        again = HubProcess(config.data_dir, restored.db_url, own_broker, worker="r")
        hub_proc = again
        again.start()
        device.results.clear()
        sender.drain(DRAIN_TIMEOUT_S)
        restored_hub = Hub.open(restored)
        with restored_hub.engine.connect() as conn:
            report = verify_ledger(conn)
        assert report.errors == []
        assert len(_tx_ids(restored_hub.engine)) == DRILL_INTENTS_N
        assert all(device.results[s.tx_id].accepted for s in sealed)
        restored_hub.close()
    finally:
        device.close()
        assert hub_proc.stop() == 0, hub_proc.log()


def _hub_and_device(
    seeded: Seeded, broker: PrivateBroker, tmp_path: Path, device_id: str
) -> tuple[HubService, DeviceRuntime]:
    """A hub service on the seeded hub and a started device runtime provisioned for it."""
    service = HubService(seeded.hub, broker_address(broker))
    service.start()
    bundle_path = tmp_path / device_id / "bundle.json"
    bundle_path.parent.mkdir()
    bundle_path.write_bytes(bundle_json(seeded, device_id, broker))
    runtime = DeviceRuntime(Bundle.load(bundle_path), bundle_path.parent, None)
    runtime.start()
    return service, runtime


def test_restored_hub_gets_queued_intents_from_the_device_outbox(
    sqlite_hub: tuple[Seeded, HubConfig], own_broker: PrivateBroker, tmp_path: Path
) -> None:
    seeded, config = sqlite_hub
    service, runtime = _hub_and_device(seeded, own_broker, tmp_path, "kiosk-2")
    card = seeded.cards[0]
    restored = HubConfig(config.data_dir, f"sqlite:///{tmp_path / 'restored.sqlite3'}", None)
    second: HubService | None = None
    try:
        wait_until(lambda: runtime.link.connected and runtime.rules_version >= 1, 20, "online")
        seen = runtime.snapshot(card)
        online = [runtime.top_up(card, 10, seen=seen) for _ in range(30)]
        wait_until(lambda: runtime.store.depth() == 0, 30, "first top-ups booked")
        assert _cli(config, "backup", "--dest", str(tmp_path / "backups")) == 0
        own_broker.stop()  # the branch's uplink goes down ...
        wait_until(lambda: not runtime.link.connected, 10, "link down")
        queued = [runtime.top_up(card, 7, seen=(seen[0], False)) for _ in range(40)]
        assert all(r.accepted and r.offline for r in queued)
        assert all(r.accepted for r in online)
        assert runtime.store.depth() == 40
        service.stop()  # ... and the hub's disk dies: restore the backup
        [backup_file] = backups.backups_in(tmp_path / "backups")
        assert _cli(restored, "restore", str(backup_file)) == 0
        restored_hub = Hub.open(restored)
        second = HubService(restored_hub, broker_address(own_broker))
        second.start()
        own_broker.start()
        wait_until(lambda: runtime.store.depth() == 0, 60, "outbox drained into the restored hub")
        with restored_hub.engine.connect() as conn:
            report = verify_ledger(conn)
            booked = conn.execute(
                sa.select(sa.func.count())
                .select_from(db.transfers)
                .where(db.transfers.c.device_id == "kiosk-2")
            ).scalar_one()
        assert report.errors == []
        assert booked == 70
    finally:
        runtime.stop()
        service.stop()
        if second is not None:
            second.stop()
            second.hub.close()


def test_backups_rotate_and_restore_refuses_to_overwrite(
    sqlite_hub: tuple[Seeded, HubConfig], tmp_path: Path
) -> None:
    _seeded, config = sqlite_hub
    dest = tmp_path / "backups"
    made = [backups.backup(config, dest, keep=2).path for _ in range(3)]
    assert backups.backups_in(dest) == made[1:]
    assert not list(dest.glob("*.partial"))
    with pytest.raises(backups.BackupError, match="fresh database"):
        backups.restore(config, made[-1])
    target = tmp_path / "hub.sqlite3"
    moved = backups.restore(config, made[-1], force=True)
    assert moved is not None and moved.exists() and target.exists()
    assert _tx_ids(Hub.open(config).engine) == set()


def test_garbage_backup_is_refused(sqlite_hub: tuple[Seeded, HubConfig], tmp_path: Path) -> None:
    _seeded, config = sqlite_hub
    garbage = tmp_path / "hub-garbage.sqlite3"
    garbage.write_bytes(b"not a database" * 100)
    fresh = HubConfig(config.data_dir, f"sqlite:///{tmp_path / 'fresh.sqlite3'}", None)
    with pytest.raises(backups.BackupError, match="not a readable hub database"):
        backups.restore(fresh, garbage)
    assert not (tmp_path / "fresh.sqlite3").exists()


@pytest.mark.postgres
def test_postgres_backup_restores_into_a_fresh_database(
    pg_url: str, pg_server: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = client_bindir()  # as new as the server: pg_dump refuses a newer one
    if tools is not None:
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    config = HubConfig(tmp_path / "hub", pg_url, None)
    seeded = seed_hub(config)
    seeded.hub.close()
    result = backups.backup(config, tmp_path / "backups", keep=3)
    assert result.path.suffix == ".pgdump" and result.size_bytes > 0
    name = f"tapcard_restore_{uuid.uuid4().hex[:10]}"
    with pg_server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    fresh = HubConfig(config.data_dir, pg_url.rsplit("/", 1)[0] + "/" + name, None)
    try:
        assert _cli(fresh, "restore", str(result.path)) == 0
        with pytest.raises(backups.BackupError, match="not empty"):
            backups.restore(fresh, result.path)
        hub = Hub.open(fresh)
        with hub.engine.connect() as conn:
            members = conn.execute(sa.select(sa.func.count()).select_from(db.members)).scalar()
            report = verify_ledger(conn)
        hub.close()
        assert members == 2 and report.errors == []
    finally:
        with pg_server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("damage", ["garbage", "zeroed header"])
def test_corrupted_database_at_start_points_to_restore(
    sqlite_hub: tuple[Seeded, HubConfig], damage: str
) -> None:
    seeded, config = sqlite_hub
    seeded.hub.close()
    path = Path(config.db_url.removeprefix("sqlite:///"))
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    if damage == "garbage":
        path.write_bytes(b"\x13garbage" * 4096)
    else:
        data = bytearray(path.read_bytes())
        data[:100] = bytes(100)
        path.write_bytes(bytes(data))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher.cli",
            "hub",
            "--data",
            str(config.data_dir),
            "--db",
            config.db_url,
            "serve",
            "--no-web",
            "--broker-port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "cannot be read" in done.stderr
    assert "tapcard hub restore" in done.stderr
    assert "Traceback" not in done.stderr
    json.dumps(done.stderr)  # a plain message, nothing else


def test_restored_hub_gets_back_what_it_had_answered_after_the_backup(
    sqlite_hub: tuple[Seeded, HubConfig],
    own_broker: PrivateBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The device had its last 20 top-ups answered (and marked done) after the backup;
    the restored hub sees from the heartbeat that the device is ahead of its ledger,
    asks it to resend, and books those 20 once."""
    import tapcard.device.link as link_module

    monkeypatch.setattr(link_module, "HEARTBEAT_S", 0.2)
    seeded, config = sqlite_hub
    service, runtime = _hub_and_device(seeded, own_broker, tmp_path, "kiosk-3")
    card = seeded.cards[0]
    restored = HubConfig(config.data_dir, f"sqlite:///{tmp_path / 'restored.sqlite3'}", None)
    second: HubService | None = None
    try:
        wait_until(lambda: runtime.link.connected and runtime.rules_version >= 1, 20, "online")
        seen = runtime.snapshot(card)
        for _ in range(30):
            runtime.top_up(card, 10, seen=seen)
        wait_until(lambda: runtime.store.depth() == 0, 30, "first 30 booked")
        assert _cli(config, "backup", "--dest", str(tmp_path / "backups")) == 0
        for _ in range(20):
            runtime.top_up(card, 10, seen=seen)
        wait_until(lambda: runtime.store.depth() == 0, 30, "20 more booked after the backup")
        service.stop()  # the hub's disk dies; the backup lacks the last 20
        [backup_file] = backups.backups_in(tmp_path / "backups")
        assert _cli(restored, "restore", str(backup_file)) == 0
        restored_hub = Hub.open(restored)
        second = HubService(restored_hub, broker_address(own_broker))
        second.start()

        def booked() -> int:
            with restored_hub.engine.connect() as conn:
                return int(
                    conn.execute(
                        sa.select(sa.func.count())
                        .select_from(db.transfers)
                        .where(db.transfers.c.device_id == "kiosk-3")
                    ).scalar_one()
                )

        wait_until(lambda: booked() == 50, 30, "the lost 20 resent and booked")
        wait_until(lambda: runtime.store.depth() == 0, 30, "outbox answered again")
        with restored_hub.engine.connect() as conn:
            assert verify_ledger(conn).errors == []
        assert booked() == 50
    finally:
        runtime.stop()
        service.stop()
        if second is not None:
            second.stop()
            second.hub.close()
