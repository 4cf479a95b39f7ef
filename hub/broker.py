"""A private Mosquitto broker for the demo, development and tests.

Started when no broker is configured. It listens on loopback only, persists its queues
in its own folder, and is stopped with the program that started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tapcard.errors import TapcardError

BROKER_START_TIMEOUT_S = 10.0
BROKER_STOP_TIMEOUT_S = 5.0
AUTOSAVE_INTERVAL_S = 1  # persistence: what the broker queued survives its own restart


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.02)
    return False


def end_process(process: subprocess.Popen[bytes], sig: signal.Signals, timeout_s: float) -> None:
    """Ask a child to end with `sig`; kill it if it has not ended within `timeout_s`."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    if found is None:
        raise TapcardError("mosquitto is not installed: `apt-get install mosquitto`")
    return found


class PrivateBroker:
    """mosquitto on 127.0.0.1:<port> with persistence in `folder`."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    "per_listener_settings false",
                    # Started as root, mosquitto would drop to its own user, who cannot
                    # write into a private temporary folder; this broker stays ours.
                    *(["user root"] if os.geteuid() == 0 else []),
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.folder}/",
                    f"autosave_interval {AUTOSAVE_INTERVAL_S}",
                    "max_queued_messages 100000",
                    "max_inflight_messages 0",
                    # Small messages otherwise wait ~40 ms for delayed ACKs (Nagle).
                    "set_tcp_nodelay true",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "",
                ]
            )
        )
        return config

    def start(self) -> None:
        config = self.write_config()
        log_file = (self.folder / "mosquitto.log").open("ab")
        # Its own session: Ctrl-C in a terminal reaches the program that owns the broker,
        # which stops it last, after everything that talks through it.
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(config)],
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        log_file.close()
        if not wait_for_port(self.host, self.port, BROKER_START_TIMEOUT_S):
            self.stop()
            raise TapcardError(f"mosquitto did not start; see {self.folder / 'mosquitto.log'}")

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        end_process(self.process, signal.SIGKILL if kill else signal.SIGTERM, BROKER_STOP_TIMEOUT_S)
        self.process = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
