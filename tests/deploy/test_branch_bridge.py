"""A branch broker bridged to HQ, cut and restored while its devices transact.

Rig: the HQ mosquitto with the config `tapcard hub broker-config` writes, the hub
(`tapcard hub serve` with its client certificate) on it, and a branch mosquitto started
with exactly the files `tapcard hub broker-config --branch shop-1 --hq ...` writes (TLS
listener for the branch's devices, a TLS bridge to HQ with the branch's certificate, QoS 1,
cleansession false, local persistence). Two kiosk runtimes, provisioned with
`tapcard hub device add` (certificate in the bundle), connect to the branch broker.

Phases, each with top-ups from both kiosks:
1. all up: a snapshot query is answered through the bridge (MQTT 5 properties survive it);
2. HQ broker stopped: the kiosks keep their branch broker and decide offline; with their
   resends held off, their intents reach the hub from the bridge's queue alone;
3. HQ back, then the branch broker killed with -9 and restarted on the same port and
   persistence folder: the kiosks keep their outbox meanwhile;
4. everything up: every outbox drains.
Then every intent is booked exactly once (transfers == intents, a result for each, the
balances moved by exactly the sum), and the journal verifies.

A second test pins the HQ side of `cleansession false`: with the branch broker away, HQ
holds a result for the bridge (mosquitto's MQTT 5 bridge loses it: see broker_config).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from hub import admin, db
from hub.broker import PrivateBroker, free_port
from hub.deploy.pki import hub_client_tls
from hub.verify import verify_ledger
from tapcard.device import link
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tapcard.mqtt import connect_persistent
from tapcard.wire.topics import Family, device_topic
from tests.deploy.conftest import TlsRig, connect
from tests.device.conftest import wait_until
from tests.hub.processes import HubProcess

pytestmark = pytest.mark.slow

BRANCH = "shop-1"
KIOSKS = ("kiosk-2", "kiosk-3")
PER_PHASE = 15  # top-ups per kiosk per phase
AMOUNT_CENTS = 7
DRAIN_WAIT_S = 40.0


class BranchBroker(PrivateBroker):
    """mosquitto run with a config file as written (nothing rewritten at start)."""

    def __init__(self, config: Path, port: int) -> None:
        super().__init__(config.parent, port)
        self.config = config

    def write_config(self) -> Path:
        return self.config

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def fast_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """The link's waits patched down, as tests/device does."""
    monkeypatch.setattr(link, "HEARTBEAT_S", 1.0)
    monkeypatch.setattr(link, "RESEND_AFTER_S", 3.0)
    monkeypatch.setattr(link, "RESEND_AFTER_S_MAX", 6.0)


@pytest.fixture
def branch_broker(
    tls_rig: TlsRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BranchBroker]:
    """The branch broker from `broker-config --branch`, after the kiosks were added with
    bundles that point at it (`device add --connect`)."""
    port = free_port()
    for kiosk in KIOSKS:
        # --branch shop-1; rewrites the HQ ACL with them
        tls_rig.add_device(kiosk, connect=f"127.0.0.1:{port}")
    monkeypatch.setenv("TAPCARD_BROKER_USER_ROOT", "1")  # keep root: our files are 0600
    out = tmp_path / "branch-broker"
    code = tls_rig.cli(
        "broker-config",
        "--branch",
        BRANCH,
        "--hq",
        f"127.0.0.1:{tls_rig.broker.port}",
        "--listen",
        f"127.0.0.1:{port}",
        "--name",
        "127.0.0.1",
        "--out",
        str(out),
    )
    assert code == 0
    broker = BranchBroker(out / "mosquitto.conf", port)
    try:
        yield broker
    finally:
        broker.stop()


def _kiosk(rig: TlsRig, kiosk: str, branch_port: int) -> DeviceRuntime:
    """A runtime from the signed bundle as provisioned: it names the branch broker."""
    folder = rig.tmp / "kiosks" / kiosk
    folder.mkdir(parents=True)
    (folder / "bundle.json").write_bytes((rig.tmp / f"{kiosk}.bundle.json").read_bytes())
    bundle = Bundle.load(folder / "bundle.json")
    assert bundle.tls is not None and bundle.broker_port == branch_port
    return DeviceRuntime(bundle, folder, None)


def _count(rig: TlsRig, table: sa.Table, device: str) -> int:
    with rig.seeded.hub.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.device_id == device)
            ).scalar_one()
        )


def _balances(rig: TlsRig, member: int) -> dict[str, int]:
    with rig.seeded.hub.engine.connect() as conn:
        return dict(admin.member_view(conn, rig.seeded.members[member])["balances"])


def test_branch_bridge_cut_and_restored_books_every_intent_once(
    tls_rig: TlsRig,
    branch_broker: BranchBroker,
    fast_link: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig, hq, branch = tls_rig, tls_rig.broker, branch_broker
    config = branch.config.read_text()
    assert f"address 127.0.0.1:{hq.port}" in config and "cleansession false" in config
    before = [_balances(rig, i) for i in (0, 1)]
    hq.start()
    monkeypatch.setenv("TAPCARD_BROKER_TLS", "1")  # `serve` with the hub's certificate
    hub = HubProcess(rig.config.data_dir, rig.config.db_url, hq)
    hub.start()
    branch.start()
    kiosks = {k: _kiosk(rig, k, branch.port) for k in KIOSKS}
    cards = dict(zip(KIOSKS, rig.seeded.cards, strict=True))  # one member per kiosk
    sent: dict[str, list[str]] = {k: [] for k in KIOSKS}

    def each(check: Callable[[DeviceRuntime], bool], timeout_s: float, what: str) -> None:
        for kiosk, runtime in kiosks.items():
            wait_until(lambda: check(runtime), timeout_s, f"{kiosk}: {what}")  # noqa: B023

    def transact(online: bool | None) -> None:
        """PER_PHASE top-ups per kiosk; `online`: whether the hub must (not) answer."""
        for kiosk, runtime in kiosks.items():
            seen = runtime.snapshot(cards[kiosk])
            assert seen[0] is not None, kiosk  # fresh, or cached from phase 1
            assert online is None or seen[1] is online, (kiosk, seen[1])
            for _ in range(PER_PHASE):
                receipt = runtime.top_up(cards[kiosk], AMOUNT_CENTS, seen=seen)
                assert receipt.accepted, receipt
                assert receipt.offline is not seen[1]
                sent[kiosk].append(str(receipt.tx_id))

    try:
        for runtime in kiosks.values():
            runtime.start()
        each(lambda r: r.link.connected, 20, "on the branch broker")
        each(lambda r: r.rules_version >= 1, 30, "rules through the bridge")

        transact(online=True)  # 1. all up; the snapshot came back through the bridge

        # 2. The uplink is down; the kiosks keep their branch broker, which takes their
        # intents (PUBACK) and queues them for HQ. The kiosks do not resend meanwhile, so
        # what reaches the hub afterwards is what the bridge kept and forwarded.
        monkeypatch.setattr(link, "RESEND_AFTER_S", 120.0)
        monkeypatch.setattr(link, "RESEND_AFTER_S_MAX", 120.0)
        hq.stop()
        transact(online=False)
        hq.start()
        each(lambda r: r.store.depth() == 0, 20, "outbox drained by the bridge's queue")
        assert all(r.link.connected for r in kiosks.values())  # never left: no resend
        monkeypatch.setattr(link, "RESEND_AFTER_S", 3.0)
        monkeypatch.setattr(link, "RESEND_AFTER_S_MAX", 6.0)

        # 3. The branch broker crashes while intents are on their way (what it took since
        # its last autosave is gone); the kiosks keep transacting into their outbox.
        transact(online=None)  # offline if the request bridge is not back yet
        branch.stop(kill=True)
        wait_until(lambda: not any(r.link.connected for r in kiosks.values()), 10, "links down")
        transact(online=False)  # no broker at all: the outbox keeps them
        branch.start()  # same port, same persistence folder

        each(lambda r: r.link.connected, 20, "reconnected")  # 4. everything back
        transact(online=True)
        each(lambda r: r.store.depth() == 0, DRAIN_WAIT_S, "outbox drained")

        for kiosk in KIOSKS:
            assert len(set(sent[kiosk])) == len(sent[kiosk]) == 5 * PER_PHASE
            assert _count(rig, db.transfers, kiosk) == len(sent[kiosk]), kiosk
            assert _count(rig, db.results, kiosk) == len(sent[kiosk]), kiosk
        with rig.seeded.hub.engine.connect() as conn:
            accepted = set(
                conn.execute(
                    sa.select(db.results.c.tx_id).where(db.results.c.accepted.is_(True))
                ).scalars()
            )
            report = verify_ledger(conn)
        assert accepted == {tx for txs in sent.values() for tx in txs}
        assert report.errors == []
        after = [_balances(rig, i) for i in (0, 1)]
        for i in (0, 1):
            moved = {a: after[i].get(a, 0) - before[i].get(a, 0) for a in after[i]}
            assert sum(moved.values()) == 5 * PER_PHASE * AMOUNT_CENTS, (moved, hub.log())
    finally:
        for runtime in kiosks.values():
            runtime.stop()
        code = hub.stop()
        logs = hub.log(), branch.log()
    assert code == 0, logs[0]
    assert "refused" not in logs[0], logs[0]


class Subscriber:
    """kiosk-2's certificate on the branch broker with a persistent MQTT 5 session."""

    def __init__(self, rig: TlsRig, port: int) -> None:
        self.port = port
        self.topic = device_topic("kiosk-2", Family.RESULT)
        self.messages: list[bytes] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="tapcard-dev-kiosk-2", protocol=mqtt.MQTTv5
        )
        ca, cert, key = rig.device_files("kiosk-2")
        self.client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append(bytes(msg.payload))

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, qos=1)

    def start(self) -> None:
        connect_persistent(self.client, "127.0.0.1", self.port, 10, 3600)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_results_for_a_branch_wait_at_hq_while_its_uplink_is_down(
    tls_rig: TlsRig, branch_broker: BranchBroker
) -> None:
    """cleansession false on the bridge: HQ keeps the branch's subscriptions and queues
    what the hub answers while the branch is away (mosquitto's MQTT 5 bridge would not:
    it sends no session expiry, so HQ ends the session when the uplink drops)."""
    rig, hq, branch = tls_rig, tls_rig.broker, branch_broker
    hq.start()
    branch.start()
    files = hub_client_tls(rig.config.data_dir)
    hub = connect(hq.port, files.ca, files.cert, files.key, name="hub-test")
    kiosk = Subscriber(rig, branch.port)
    try:
        assert hub.connected.is_set()
        kiosk.start()
        assert kiosk.subscribed.wait(10)

        def through() -> bool:  # the bridge is up once a result goes through
            if not kiosk.messages:
                hub.publish(kiosk.topic, b"first")
            return bool(kiosk.messages)

        wait_until(through, 20, "a result through the bridge")
        kiosk.stop()
        branch.stop()  # the uplink goes down (a clean stop: the branch saves its sessions)
        assert hub.publish(kiosk.topic, b"while away") == 0  # 0x10 if no one subscribed
        branch.start()
        kiosk.messages.clear()
        kiosk.start()
        wait_until(lambda: b"while away" in kiosk.messages, 20, "the queued result")
    finally:
        hub.close()
        kiosk.stop()
