"""Hub processes for fault tests: started as `tapcard hub serve`, killed with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from hub.broker import PrivateBroker
from tapcard.device.intents import SealedIntent
from tapcard.device.scripted import ScriptedDevice

STOP_TIMEOUT_S = 10.0


class HubProcess:
    def __init__(
        self,
        data_dir: Path,
        db_url: str,
        broker: PrivateBroker,
        worker: str = "1",
        shared: bool = False,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "launcher.cli",
            "hub",
            "--data",
            str(data_dir),
            "--db",
            db_url,
            "--broker",
            f"{broker.host}:{broker.port}",
            "serve",
            "--no-web",  # fault tests run several hubs; the dashboard is tested on its own
            "--worker",
            worker,
            *(["--shared"] if shared else []),
        ]
        self.log_path = data_dir / f"hub-{worker}.log"
        self.login_env = broker.hub_login_env()  # only the hub may publish retained config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_s: float = 60.0) -> None:
        """Start and wait until this start says it serves (so a stop finds it up)."""
        serving_before = self._serving_count()
        with self.log_path.open("ab") as log:
            env = {**os.environ, **self.login_env, "TAPCARD_LOG": "WARNING"}
            self.process = subprocess.Popen(self.args, stdout=log, stderr=log, env=env)

        deadline = time.monotonic() + wait_s
        while self._serving_count() == serving_before:
            assert self.process is not None and self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"hub did not start: {self.log()}"
            time.sleep(0.05)

    def _serving_count(self) -> int:
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count("hub serving on")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> int:
        """SIGINT, then terminate after a timeout; returns the exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            code = self.process.wait()
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ResendingDevice:
    """A scripted device that resends intents without a result, like an outbox does."""

    def __init__(self, device: ScriptedDevice) -> None:
        self.device = device
        self.sent: dict[uuid.UUID, SealedIntent] = {}

    def send_all(self, sealed: list[SealedIntent]) -> None:
        for item in sealed:
            self.sent[item.tx_id] = item
            self.device.publish(item)

    def pending(self) -> list[SealedIntent]:
        return [s for tx, s in self.sent.items() if tx not in self.device.results]

    def drain(self, timeout_s: float, resend_every_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            missing = self.pending()
            if not missing:
                return
            try:
                self.device.wait_all([m.tx_id for m in missing], timeout_s=resend_every_s)
                return
            except Exception:
                for item in self.pending():
                    self.device.publish(item)
        raise AssertionError(f"{len(self.pending())} intents never got a result")


def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
