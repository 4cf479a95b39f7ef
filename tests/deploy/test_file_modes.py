"""Files at rest are private: folders 0700, files 0600, whatever the umask.

Scenario: under the most permissive umask (000) and the usual one (022), `tapcard hub
init` makes the data folder, the SQLite database and the keys; the hub then writes (so
SQLite has its -wal and -shm files); `tapcard hub backup` writes a backup; the demo's
seeding adds its device key and starts its private broker; a device opens its store.
Every one of those folders is 0700 and every file 0600, checked with os.stat.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from launcher.demo_seed import seed
from tapcard.device.store import DeviceStore
from tapcard.files import FILE_MODE, FOLDER_MODE, mode_of, private_file, private_folder

CLI_TIMEOUT_S = 120


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask for the test (children inherit it), restored after."""
    value = int(request.param)
    before = os.umask(value)
    try:
        yield value
    finally:
        os.umask(before)


def _tapcard(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", *args],
        capture_output=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def _assert_private(root: Path) -> list[Path]:
    """Every folder under `root` (itself included) 0700, every file 0600."""
    seen = [root, *sorted(root.rglob("*"))]
    wrong = [
        (str(p.relative_to(root)), oct(mode_of(p)))
        for p in seen
        if mode_of(p) != (FOLDER_MODE if p.is_dir() else FILE_MODE)
    ]
    assert not wrong, wrong
    return seen


def test_hub_init_and_backup_leave_only_private_files(umask: int, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _tapcard("hub", "--data", str(data), "init")
    config = HubConfig.from_env(data_dir=str(data))
    hub = Hub.open(config)
    try:
        with hub.transaction() as conn:  # a write: SQLite now has its -wal and -shm
            conn.exec_driver_sql("CREATE TABLE probe_modes (x INTEGER)")
        database = data / "hub.sqlite3"
        for name in (database.name, database.name + "-wal", database.name + "-shm"):
            assert mode_of(data / name) == FILE_MODE, name
    finally:
        hub.close()
    _tapcard("hub", "--data", str(data), "backup")
    seen = _assert_private(data)
    names = {p.name for p in seen}
    assert {"hub.sqlite3", "keys", "hub.key", "secret.key", "backups"} <= names
    assert any(p.parent.name == "backups" and p.suffix == ".sqlite3" for p in seen)


def test_demo_seeding_and_its_broker_leave_only_private_files(umask: int, tmp_path: Path) -> None:
    data = tmp_path / "demo"
    hub = Hub.init(HubConfig.from_env(data_dir=str(data)))
    try:
        seed(hub, data)
        with PrivateBroker(data / "broker") as broker:
            assert broker.hub_address.password
    finally:
        hub.close()
    seen = _assert_private(data)
    assert {"passwd", "acl", "hub.password", "mosquitto.conf"} <= {p.name for p in seen}


def test_a_device_store_is_private(umask: int, tmp_path: Path) -> None:
    store = DeviceStore(tmp_path / "device")
    try:
        _assert_private(tmp_path / "device")
        assert (tmp_path / "device" / "device.sqlite3").exists()
    finally:
        store.close()


def test_looser_modes_left_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    file = folder / "hub.sqlite3"
    file.write_bytes(b"")
    os.chmod(file, 0o644)
    private_folder(folder)
    private_file(file)
    assert (mode_of(folder), mode_of(file)) == (FOLDER_MODE, FILE_MODE)
