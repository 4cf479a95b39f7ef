"""Deploy fixtures: a hub with its CA, a real mosquitto started with the config that
`tapcard hub broker-config` writes (TLS, client certificates, ACL), and helpers for MQTT
clients with or without certificates."""

from __future__ import annotations

import contextlib
import json
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker import PrivateBroker, free_port
from hub.config import HubConfig
from hub.deploy.broker_config import BrokerFiles, ListenerSettings, write_hq_config
from hub.deploy.pki import CertificateAuthority
from hub.deploy.provision import save_settings
from launcher.cli import main as tapcard_main
from tests.conftest import Seeded, seed_hub

CONNECT_WAIT_S = 5.0
RELOAD_WAIT_S = 0.5  # mosquitto re-reads its ACL on SIGHUP


class TlsBroker(PrivateBroker):
    """mosquitto with a config written by broker-config (stoppable, restartable)."""

    def __init__(self, files: BrokerFiles, port: int) -> None:
        super().__init__(files.config.parent, port)
        self.files = files

    def write_config(self) -> Path:
        return self.files.config

    def reload(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        time.sleep(RELOAD_WAIT_S)


@dataclass
class Client:
    """A paho client that records what happened to it."""

    client: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    settled: threading.Event = field(default_factory=threading.Event)  # let in or thrown out
    refused: list[Any] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    published: dict[int, int] = field(default_factory=dict)  # mid -> reason code value
    subscribed: list[int] = field(default_factory=list)  # mids of SUBACKs received

    def publish(self, topic: str, payload: bytes = b"x") -> int:
        info = self.client.publish(topic, payload, qos=1, retain=False)
        deadline = time.monotonic() + CONNECT_WAIT_S
        while info.mid not in self.published and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.published.get(info.mid, -1)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        sock = self.client.socket()  # left open by a connection the broker refused
        if sock is not None:
            sock.close()


def connect(
    port: int, ca: Path, cert: Path | None = None, key: Path | None = None, name: str = "c"
) -> Client:
    """A started client; `.connected` tells whether the broker took it."""
    paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    paho.tls_set(
        ca_certs=str(ca), certfile=str(cert) if cert else None, keyfile=str(key) if key else None
    )
    paho.reconnect_delay_set(5, 5)
    record = Client(paho)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            record.refused.append(reason)
        else:
            record.connected.set()
        record.settled.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        record.refused.append(reason)
        record.settled.set()

    paho.on_connect = on_connect
    paho.on_disconnect = on_disconnect
    paho.on_subscribe = lambda _c, _u, mid, _codes, _p: record.subscribed.append(mid)
    paho.on_message = lambda _c, _u, msg: record.messages.append((msg.topic, bytes(msg.payload)))
    paho.on_publish = lambda _c, _u, mid, reason, _p: record.published.__setitem__(
        mid, reason.value
    )
    try:
        paho.connect("127.0.0.1", port, keepalive=10)
    except (ssl.SSLError, OSError) as exc:
        record.refused.append(exc)
        return record
    paho.loop_start()
    record.settled.wait(CONNECT_WAIT_S)
    return record


@dataclass
class TlsRig:
    seeded: Seeded
    config: HubConfig
    broker: TlsBroker
    tmp: Path
    bundles: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ca(self) -> CertificateAuthority:
        return CertificateAuthority.load(self.config.data_dir)

    def cli(self, *args: str) -> int:
        return tapcard_main(
            ["hub", "--data", str(self.config.data_dir), "--db", self.config.db_url, *args]
        )

    def add_device(self, device_id: str, connect: str | None = None) -> dict[str, Any]:
        out = self.tmp / f"{device_id}.bundle.json"
        args = ["device", "add", device_id, "--branch", "shop-1", "--kind", "terminal"]
        args += ["--connect", connect] if connect else []
        assert self.cli("--broker", "127.0.0.1", *args, "--out", str(out)) == 0
        bundle: dict[str, Any] = json.loads(out.read_text())
        self.bundles[device_id] = bundle
        folder = self.tmp / "certs" / device_id
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("ca", "cert", "key"):
            (folder / f"{name}.pem").write_text(bundle["tls"][f"{name}_pem"])
        return bundle

    def device_files(self, device_id: str) -> tuple[Path, Path, Path]:
        folder = self.tmp / "certs" / device_id
        return folder / "ca.pem", folder / "cert.pem", folder / "key.pem"

    def connect_device(self, device_id: str) -> Client:
        ca, cert, key = self.device_files(device_id)
        return connect(self.broker.port, ca, cert, key, name=f"tapcard-dev-{device_id}")


def make_tls_rig(db_url: str, tmp_path: Path) -> Iterator[TlsRig]:
    config = HubConfig(tmp_path / "hub", db_url, None)
    seeded = seed_hub(config)
    port = free_port()
    settings = ListenerSettings(tmp_path / "broker", port=port, bind="127.0.0.1", run_as_root=True)
    files = write_hq_config(seeded.hub.engine, config.data_dir, settings)
    save_settings(config.data_dir, settings)
    broker = TlsBroker(files, port)
    rig = TlsRig(seeded, config, broker, tmp_path)
    try:
        yield rig
    finally:
        broker.stop()
        seeded.hub.close()


@pytest.fixture
def tls_rig(tmp_path: Path) -> Iterator[TlsRig]:
    """A seeded SQLite hub with its CA and broker config; the broker is not started."""
    yield from make_tls_rig(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path)
