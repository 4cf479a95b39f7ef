"""The systemd units: `systemd-analyze verify` passes on each, the hardening and watchdog
settings are there, `systemd-analyze security` rates each service OK (<= 2.5); and the
Python programs speak sd_notify: READY, then WATCHDOG pings from their loops.

`systemd-analyze verify` needs the binaries a unit starts to exist, so the units are
checked in a copy where /opt/tapcard/bin/tapcard is the installed `tapcard`.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.broker import PrivateBroker
from tapcard import sdnotify
from tests.conftest import Seeded
from tests.device.conftest import bundle_json

UNITS = Path(__file__).resolve().parents[2] / "systemd"
INSTALLED_TAPCARD = "/opt/tapcard/bin/tapcard"
SERVICES = sorted(p.name for p in UNITS.glob("*.service"))
NOTIFYING = [
    "tapcard-hub.service",
    "tapcard-hub@.service",
    "tapcard-device.service",
    "tapcard-kiosk.service",
    "tapcard-terminal.service",
]
GATES = ["tapcard-gate.service", "tapcard-bay.service"]  # codes on stdin, no watchdog
LONG_RUNNING = [*NOTIFYING, "tapcard-broker.service", *GATES]
EXPOSURE_MAX = 2.5
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _staged(tmp_path: Path) -> Path:
    tapcard = shutil.which("tapcard") or sys.executable
    for unit in UNITS.iterdir():
        if unit.suffix in (".service", ".timer"):
            text = unit.read_text().replace(INSTALLED_TAPCARD, tapcard)
            (tmp_path / unit.name).write_text(text)
    return tmp_path


def _service(name: str) -> dict[str, list[str]]:
    """Every [Service] key with all its values (keys repeat in unit files)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / name).read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#") and section in ("Service", "Unit"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@needs_analyze
@pytest.mark.parametrize("name", [*SERVICES, "tapcard-backup.timer", "tapcard-notices.timer"])
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    folder = _staged(tmp_path)
    done = subprocess.run(
        [ANALYZE, "verify", "--man=no", str(folder / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ours = [line for line in done.stderr.splitlines() if "tapcard" in line]
    assert ours == [], done.stderr


@needs_analyze
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above is not vacuous here: a bad unit fails it."""
    (tmp_path / "broken.service").write_text("[Service]\nType=notify\nExecStart=relative/path\n")
    done = subprocess.run(
        [ANALYZE, "verify", "--man=no", str(tmp_path / "broken.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 or "ExecStart" in done.stderr


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_units_are_hardened_and_restart_with_limits(name: str) -> None:
    unit = _service(name)
    assert unit["Restart"] == ["on-failure"]
    assert "StartLimitIntervalSec" in unit and "StartLimitBurst" in unit
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["PrivateTmp"] == ["yes"]
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert unit.get("DynamicUser") == ["yes"] or unit["User"][0].startswith("tapcard")
    assert "StateDirectory" in unit
    assert unit["DevicePolicy"] == ["closed"]
    if name in NOTIFYING:
        assert unit["Type"] == ["notify"] and int(unit["WatchdogSec"][0]) > 0


def test_device_access_is_the_reader_only() -> None:
    headless = _service("tapcard-device.service")["DeviceAllow"]
    assert sorted(headless) == sorted(
        ["char-usb_device rw", "char-ttyAMA rw", "char-ttyS rw", "char-ttyUSB rw"]
    )
    kiosk = _service("tapcard-kiosk.service")
    assert set(kiosk["DeviceAllow"]) - set(headless) == {
        "char-drm rw",
        "char-input r",
        "/dev/tty1 rw",  # the screen and touch, nothing else
    }
    assert "SDL_VIDEODRIVER=kmsdrm" in " ".join(kiosk["Environment"])
    for name in GATES:  # the GPIO chip and the scanner's terminal, nothing else
        gate = _service(name)
        assert sorted(gate["DeviceAllow"]) == ["/dev/tty1 rw", "char-gpiochip rw"], name
        assert gate["StandardInput"] == ["tty-fail"] and gate["TTYPath"] == ["/dev/tty1"]
        assert gate["ExecStart"][0].startswith("/opt/tapcard/bin/tapcard device gate ")
    assert "--fault-pin" in _service("tapcard-bay.service")["ExecStart"][0]


@needs_analyze
@pytest.mark.parametrize("name", [n for n in SERVICES if n != "tapcard-hub@.service"])
def test_security_exposure_is_ok(name: str, tmp_path: Path) -> None:
    folder = _staged(tmp_path)
    done = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(folder / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    assert found is not None, done.stdout + done.stderr
    print(f"{name}: {found.group(1)}")
    assert float(found.group(1)) <= EXPOSURE_MAX


def test_journald_limits_are_bounded() -> None:
    parser = configparser.ConfigParser()
    parser.read(UNITS / "journald-tapcard.conf")
    assert parser["Journal"]["SystemMaxUse"] == "64M"
    assert parser["Journal"]["RuntimeMaxUse"] == "32M"


# --- sd_notify from the programs ------------------------------------------------------


class NotifySocket:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.seen: list[str] = []

    def collect(self, until: float, wanted: int) -> list[str]:
        while time.monotonic() < until and sum(m == "WATCHDOG=1" for m in self.seen) < wanted:
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return self.seen

    def close(self) -> None:
        self.sock.close()


def _run_notified(argv: list[str], sock: NotifySocket, env_extra: dict[str, str]) -> list[str]:
    env = {**os.environ, "NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "1000000", **env_extra}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        sock.collect(time.monotonic() + 20, wanted=3)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
    assert code == 0, err
    sock.collect(time.monotonic() + 1, wanted=10**6)  # STOPPING=1 after the signal
    return sock.seen


def test_hub_serve_notifies_ready_and_pings_the_watchdog(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, tmp_path: Path
) -> None:
    config = seeded_sqlite.hub.config
    sock = NotifySocket(tmp_path)
    try:
        seen = _run_notified(
            [
                sys.executable,
                "-m",
                "launcher.cli",
                "hub",
                "--data",
                str(config.data_dir),
                "--db",
                config.db_url,
                "--broker",
                f"127.0.0.1:{own_broker.port}",
                "serve",
                "--no-web",
            ],
            sock,
            {},
        )
    finally:
        sock.close()
    [ready] = [i for i, m in enumerate(seen) if m.startswith("READY=1")]
    assert seen[ready] == f"READY=1\nSTATUS=hub worker 1 serving on 127.0.0.1:{own_broker.port}"
    assert seen[ready:].count("WATCHDOG=1") >= 2  # from the worker loop, at half the period
    assert seen[-1] == "STOPPING=1"


def test_device_run_notifies_ready_and_pings_the_watchdog(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "device"
    data_dir.mkdir()
    (data_dir / "bundle.json").write_bytes(bundle_json(seeded_sqlite, "kiosk-5", own_broker))
    sock = NotifySocket(tmp_path)
    try:
        seen = _run_notified(
            [sys.executable, "-m", "launcher.cli", "device", "run", "--data", str(data_dir)],
            sock,
            {},
        )
    finally:
        sock.close()
    [ready] = [i for i, m in enumerate(seen) if m.startswith("READY=1")]
    assert seen[ready] == "READY=1\nSTATUS=device kiosk-5"
    assert seen[ready:].count("WATCHDOG=1") >= 2
    assert seen[-1] == "STOPPING=1"


def test_watchdog_is_rate_limited_and_silent_outside_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    sock = NotifySocket(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock.path))
    try:
        watchdog = sdnotify.Watchdog(period_s=10.0)
        for _ in range(100):
            watchdog.ping()
        assert watchdog.sent == 1  # then not again before half the period
        monkeypatch.setenv("WATCHDOG_USEC", "2000000")
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
        assert sdnotify.watchdog_period_s() is None  # meant for another process
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        assert sdnotify.watchdog_period_s() == 2.0
    finally:
        sock.close()
