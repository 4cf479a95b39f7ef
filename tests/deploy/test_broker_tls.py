"""The locked-down broker: a real mosquitto with the config `tapcard hub broker-config`
writes, and devices provisioned with `tapcard hub device add`.

Scenario: kiosk-2 and kiosk-3 get certificates in their bundles. Each may publish under
its own topics only (the broker answers 0x87 Not authorized otherwise, MQTT 5) and reads
only its own results; a client without a certificate, with a certificate from another
CA or with an expired one is not let in; kiosk-3 is revoked: the broker refuses its
publishes after a reload and its connection after a restart (CRL), and the hub refuses
what it signed. The hub itself connects with its own certificate, and a device runtime
does a top-up end to end over TLS.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub import db
from hub.config import BrokerAddress
from hub.deploy.pki import CertificateAuthority, hub_client_tls, write_file
from hub.service import HubService
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tests.deploy.conftest import TlsRig, connect
from tests.device.conftest import wait_until

NOT_AUTHORIZED = 0x87


def ok(code: int) -> bool:
    """Success or 0x10 No matching subscribers: accepted by the broker."""
    return 0 <= code < 0x80


def _dev(device: str, family: str) -> str:
    return f"tapcard/v1/dev/{device}/{family}"


def test_each_device_publishes_and_reads_only_its_own_topics(tls_rig: TlsRig) -> None:
    tls_rig.add_device("kiosk-2")
    tls_rig.add_device("kiosk-3")
    tls_rig.broker.start()
    hub_files = hub_client_tls(tls_rig.config.data_dir)
    hub = connect(tls_rig.broker.port, hub_files.ca, hub_files.cert, hub_files.key, "hub-test")
    two, three = tls_rig.connect_device("kiosk-2"), tls_rig.connect_device("kiosk-3")
    try:
        assert hub.connected.is_set() and two.connected.is_set() and three.connected.is_set()
        hub.client.subscribe("$share/tapcard-hub/tapcard/v1/dev/+/tx", qos=1)
        three.client.subscribe(_dev("kiosk-2", "result"), qos=1)  # someone else's results
        three.client.subscribe(_dev("kiosk-3", "result"), qos=1)
        wait_until(lambda: len(hub.subscribed) == 1 and len(three.subscribed) == 2, 5, "SUBACKs")
        for family in ("tx", "status", "health", "query"):
            assert ok(two.publish(_dev("kiosk-2", family))), family
            assert two.publish(_dev("kiosk-3", family)) == NOT_AUTHORIZED, family
        assert two.publish(_dev("kiosk-2", "result")) == NOT_AUTHORIZED  # results: hub only
        assert two.publish("tapcard/v1/rules") == NOT_AUTHORIZED
        assert ok(hub.publish(_dev("kiosk-2", "result"), b"for two"))
        assert ok(hub.publish(_dev("kiosk-3", "result"), b"for three"))
        wait_until(lambda: len(three.messages) >= 1, 5, "kiosk-3's own result")
        wait_until(lambda: len(hub.messages) >= 1, 5, "the hub got kiosk-2's intent")
        assert three.messages == [(_dev("kiosk-3", "result"), b"for three")]
        assert hub.messages == [(_dev("kiosk-2", "tx"), b"x")]
    finally:
        for client in (hub, two, three):
            client.close()


def test_clients_without_a_good_certificate_are_not_let_in(tls_rig: TlsRig, tmp_path: Path) -> None:
    tls_rig.add_device("kiosk-2")
    tls_rig.broker.start()
    port, ca = tls_rig.broker.port, tls_rig.ca.ca_path
    other = CertificateAuthority.load(tmp_path / "other", make=True)  # a stranger's CA
    foreign = other.issue("kiosk-2")
    ours = tls_rig.ca
    expired = ours.issue(
        "kiosk-2", valid_days=1, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    )
    for name, issued in (("foreign", foreign), ("expired", expired)):
        write_file(tmp_path / f"{name}.crt", issued.cert_pem)
        write_file(tmp_path / f"{name}.key", issued.key_pem, private=True)
    clients = {
        "no certificate": connect(port, ca, name="anon"),
        "another CA": connect(port, ca, tmp_path / "foreign.crt", tmp_path / "foreign.key"),
        "expired": connect(port, ca, tmp_path / "expired.crt", tmp_path / "expired.key"),
        # the client does not trust the broker: the broker's certificate is not from other
        "wrong CA on the client": connect(
            port, other.ca_path, *tls_rig.device_files("kiosk-2")[1:], name="c2"
        ),
        "good": tls_rig.connect_device("kiosk-2"),
    }
    try:
        admitted = {name: c.connected.is_set() for name, c in clients.items()}
        assert admitted == {
            "no certificate": False,
            "another CA": False,
            "expired": False,
            "wrong CA on the client": False,
            "good": True,
        }
        assert clients["wrong CA on the client"].refused  # the handshake failed client-side
    finally:
        for client in clients.values():
            client.close()


def test_a_revoked_device_is_refused_by_broker_and_hub(tls_rig: TlsRig) -> None:
    tls_rig.add_device("kiosk-3")
    tls_rig.broker.start()
    device = tls_rig.connect_device("kiosk-3")
    try:
        assert ok(device.publish(_dev("kiosk-3", "health")))
        assert tls_rig.cli("device", "revoke", "kiosk-3") == 0
        assert "kiosk-3" not in tls_rig.broker.files.acl.read_text()
        tls_rig.broker.reload()  # systemctl reload tapcard-broker
        assert device.publish(_dev("kiosk-3", "tx")) == NOT_AUTHORIZED
    finally:
        device.close()
    tls_rig.broker.stop()
    tls_rig.broker.start()  # the listener reads the CRL when it starts
    again = tls_rig.connect_device("kiosk-3")
    try:
        assert not again.connected.is_set()
    finally:
        again.close()
    with tls_rig.seeded.hub.engine.connect() as conn:
        state = conn.execute(db.devices.select().where(db.devices.c.id == "kiosk-3")).one().state
    assert state == "revoked"
    from hub.registry import DeviceRegistry
    from tapcard.wire.envelope import WireError

    with pytest.raises(WireError, match="revoked"):
        DeviceRegistry(tls_rig.seeded.hub.engine).get("kiosk-3")


def test_hub_and_device_runtime_transact_over_tls(tls_rig: TlsRig) -> None:
    bundle_data = tls_rig.add_device("kiosk-2")
    tls_rig.broker.start()
    service = HubService(tls_rig.seeded.hub, BrokerAddress("127.0.0.1", tls_rig.broker.port))
    files = hub_client_tls(tls_rig.config.data_dir)
    service.configure_tls(str(files.ca), str(files.cert), str(files.key))
    service.start()
    bundle_path = tls_rig.tmp / "device" / "bundle.json"
    bundle_path.parent.mkdir()
    import json

    bundle_path.write_text(json.dumps(bundle_data))
    runtime = DeviceRuntime(Bundle.load(bundle_path), bundle_path.parent, None)
    runtime.start()
    try:
        assert service.wait_connected(10)
        wait_until(lambda: runtime.link.connected, 10, "device connected over TLS")
        wait_until(lambda: runtime.rules_version >= 1, 10, "rules at the device")
        card = tls_rig.seeded.cards[0]
        seen = runtime.snapshot(card)
        receipts = [runtime.top_up(card, 25, seen=seen) for _ in range(20)]
        assert all(r.accepted for r in receipts)
        wait_until(lambda: runtime.store.depth() == 0, 20, "outbox drained")
        with tls_rig.seeded.hub.engine.connect() as conn:
            count = conn.execute(
                db.transfers.select().where(db.transfers.c.device_id == "kiosk-2")
            ).all()
        assert len(count) == 20
    finally:
        runtime.stop()
        service.stop()
