"""A private Mosquitto broker for the demo, development and tests.

Started when no broker is configured. It listens on loopback only, persists its queues
in its own folder (0700), and is stopped with the program that started it.

Who may write what (its ACL file, `acl_text`): the hub logs in as HUB_IDENTITY with a
password made for this broker (kept 0600 in its folder, hashed in its password file) and
may read and write everything under `tapcard/`. Each active device of the registry logs
in with its id and a password the hub derives from its own secret (`device_password`:
HMAC of the device id, so nothing new is stored per device; the provisioning bundle
carries it) and gets the deployed broker's ACL lines (hub.deploy.broker_config): its own
topics, and the retained rule set and deny list read-only. Anonymous clients get nothing.
The broker follows the registry (`follow`): a device provisioned or revoked, by this
process or by `tapcard hub device add/revoke` in another, has its login written or
removed within REGISTRY_FOLLOW_S, and mosquitto re-reads both files on SIGHUP.

`anonymous_devices=True` is the tests' shared broker: many hubs with their own databases
use one broker there, so device topics stay open to anonymous clients (never the
retained config), as before the per-device logins.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Final

from sqlalchemy.engine import Engine

from hub.config import BROKER_PASSWORD_FILE_ENV, BROKER_USER_ENV, BrokerAddress
from hub.deploy.broker_config import acl_text as registry_acl_text
from hub.deploy.broker_config import registry_devices
from hub.deploy.pki import HUB_IDENTITY
from tapcard.errors import TapcardError
from tapcard.files import private_folder, write_private
from tapcard.wire.messages import PACKET_BYTES_MAX
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    PREFIX,
    PRODUCTS_TOPIC,
    RULES_SCOPED_FILTER,
    RULES_TOPIC,
)

log = logging.getLogger(__name__)

BROKER_START_TIMEOUT_S = 10.0
BROKER_STOP_TIMEOUT_S = 5.0
AUTOSAVE_INTERVAL_S = 1  # persistence: what the broker queued survives its own restart
PASSWORD_FILE: Final = "passwd"  # noqa: S105 (a file name) mosquitto's, hashed
HUB_PASSWORD_FILE: Final = "hub.password"  # noqa: S105 (a file name) for the hub
ACL_FILE: Final = "acl"
DEVICE_SECRET_FILE: Final = "device-logins.secret"  # noqa: S105 (a file name) HMAC key
PASSWORD_BYTES: Final = 24
REGISTRY_FOLLOW_S: Final = 2.0  # a provisioned or revoked device's login, this soon
# mosquitto's own "$7$" hash (PBKDF2-HMAC-SHA512), as mosquitto_passwd writes it.
HASH_ITERATIONS: Final = 101
HASH_SALT_BYTES: Final = 12


def password_line(username: str, password: str) -> str:
    """One line of a mosquitto password file."""
    salt = secrets.token_bytes(HASH_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, HASH_ITERATIONS)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"{username}:$7${HASH_ITERATIONS}${encoded[0]}${encoded[1]}"


def device_password(folder: Path, device_id: str) -> str:
    """A device's password on the embedded broker in `folder`: HMAC-SHA256 of its id
    with the hub's secret for this broker (made 0600 on first use)."""
    path = private_folder(folder) / DEVICE_SECRET_FILE
    if not path.exists():
        write_private(path, secrets.token_urlsafe(PASSWORD_BYTES).encode())
    mac = hmac.new(path.read_bytes().strip(), device_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def acl_text(devices: dict[str, str] | None = None, anonymous_devices: bool = False) -> str:
    """The hub: everything under the prefix; each device (id -> branch): its own topics
    and the retained config read-only; anonymous clients nothing, or with
    `anonymous_devices` (tests) the device topics and the retained config read-only."""
    lines = ["# Written by hub.broker for the embedded broker; rewritten from the registry."]
    if anonymous_devices:
        lines += [
            "# Lines before the first user line are for anonymous clients.",
            f"topic readwrite {PREFIX}/dev/#",
            f"topic read {RULES_TOPIC}",
            f"topic read {DENYLIST_TOPIC}",
            f"topic read {PRODUCTS_TOPIC}",
            f"topic read {RULES_SCOPED_FILTER}",
        ]
    return "\n".join(lines) + "\n" + registry_acl_text(devices or {}, with_hub=True)


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
    """mosquitto on 127.0.0.1:<port> with persistence in `folder`; `hub_address` logs in
    as the hub, `device_address` as one device of `registry` (the hub's database, whose
    active devices get logins: see `follow`)."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        registry: Engine | None = None,
        anonymous_devices: bool = False,
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.registry = registry
        self.anonymous_devices = anonymous_devices
        self.process: subprocess.Popen[bytes] | None = None
        self._hub_password = ""
        self._devices: dict[str, str] = {}  # device -> branch, in the files now
        self._following = threading.Event()
        self._follower: threading.Thread | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> BrokerAddress:
        """No login: what only the tests' shared broker (`anonymous_devices`) admits."""
        return BrokerAddress(self.host, self.port)

    @property
    def hub_address(self) -> BrokerAddress:
        """The hub's login; the password is made on the first start in this folder."""
        if not self._hub_password:
            self._hub_password = self._load_hub_password()
        return BrokerAddress(self.host, self.port, HUB_IDENTITY, self._hub_password)

    def device_address(self, device_id: str) -> BrokerAddress:
        """A device's login (valid while the registry has it active)."""
        return BrokerAddress(
            self.host, self.port, device_id, device_password(self.folder, device_id)
        )

    @property
    def admitted(self) -> frozenset[str]:
        """The devices whose logins are in the broker's files now."""
        return frozenset(self._devices)

    def hub_login_env(self) -> dict[str, str]:
        """The environment that lets a hub in another process log in as the hub."""
        self.hub_address  # noqa: B018 (makes the password file on first use)
        return {
            BROKER_USER_ENV: HUB_IDENTITY,
            BROKER_PASSWORD_FILE_ENV: str(self.folder / HUB_PASSWORD_FILE),
        }

    def _load_hub_password(self) -> str:
        path = private_folder(self.folder) / HUB_PASSWORD_FILE
        if not path.exists():
            write_private(path, secrets.token_urlsafe(PASSWORD_BYTES).encode())
        return path.read_text().strip()

    def _write_logins(self, devices: dict[str, str]) -> None:
        """The password file (the hub and each device) and the ACL for these devices."""
        lines = [password_line(HUB_IDENTITY, self.hub_address.password)]
        lines += [password_line(d, device_password(self.folder, d)) for d in sorted(devices)]
        write_private(self.folder / PASSWORD_FILE, ("\n".join(lines) + "\n").encode())
        acl = acl_text(devices, self.anonymous_devices)
        write_private(self.folder / ACL_FILE, acl.encode())
        self._devices = dict(devices)

    def sync(self) -> bool:
        """Logins from the registry again; mosquitto re-reads them (SIGHUP) when they
        changed. True when they did."""
        if self.registry is None:
            return False
        devices = registry_devices(self.registry)
        if devices == self._devices:
            return False
        self._write_logins(devices)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)
        return True

    def _follow(self) -> None:
        while not self._following.wait(REGISTRY_FOLLOW_S):
            try:
                self.sync()
            except Exception:  # a database hiccup: the next round tries again
                log.exception("embedded broker: could not read the device registry")

    def write_config(self) -> Path:
        private_folder(self.folder)
        passwd = self.folder / PASSWORD_FILE
        acl = self.folder / ACL_FILE
        devices = registry_devices(self.registry) if self.registry is not None else {}
        self._write_logins(devices)
        config = self.folder / "mosquitto.conf"
        write_private(
            config,
            "\n".join(
                [
                    "per_listener_settings false",
                    # Started as root, mosquitto would drop to its own user, who cannot
                    # write into a private temporary folder; this broker stays ours.
                    *(["user root"] if os.geteuid() == 0 else []),
                    f"listener {self.port} 127.0.0.1",
                    f"allow_anonymous {'true' if self.anonymous_devices else 'false'}",
                    f"password_file {passwd}",
                    f"acl_file {acl}",
                    "persistence true",
                    f"persistence_location {self.folder}/",
                    f"autosave_interval {AUTOSAVE_INTERVAL_S}",
                    "max_queued_messages 100000",
                    "max_inflight_messages 0",
                    f"max_packet_size {PACKET_BYTES_MAX}",
                    # Small messages otherwise wait ~40 ms for delayed ACKs (Nagle).
                    "set_tcp_nodelay true",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "",
                ]
            ).encode(),
        )
        return config

    def start(self) -> None:
        config = self.write_config()
        log_path = self.folder / "mosquitto.log"
        log_file = log_path.open("ab")
        os.chmod(log_path, 0o600)
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
        if self.registry is not None:
            self._following.clear()
            self._follower = threading.Thread(
                target=self._follow, name="broker-registry", daemon=True
            )
            self._follower.start()

    def stop(self, kill: bool = False) -> None:
        self._following.set()
        if self._follower is not None:
            self._follower.join()
            self._follower = None
        if self.process is None:
            return
        end_process(self.process, signal.SIGKILL if kill else signal.SIGTERM, BROKER_STOP_TIMEOUT_S)
        self.process = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
