"""The deployed broker: the hub reads its retained config back over TLS, too.

Scenario: the HQ mosquitto runs with the config `tapcard hub broker-config` writes; the
hub serves with its client certificate and publishes the rule set and deny list. A device
(its own certificate) may not clear them. The hub's identity clears the rule set anyway:
the hub's probe, connecting with the same certificate, finds it missing within
RETAINED_CHECK_S (patched down) and publishes it again.
"""

from __future__ import annotations

import time

import pytest

from hub import duties
from hub.config import BrokerAddress
from hub.deploy.pki import hub_client_tls
from hub.service import HubService
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC
from tests.deploy.conftest import Client, TlsRig, connect

WAIT_S = 10.0
CHECK_S = 1.0
NOT_AUTHORIZED = 135


def _retained_rules(rig: TlsRig, name: str) -> list[bytes]:
    """The retained rule set a fresh subscriber (the hub's identity) gets, if any."""
    files = hub_client_tls(rig.config.data_dir)
    reader = connect(rig.broker.port, files.ca, files.cert, files.key, name=name)
    try:
        assert reader.connected.is_set(), reader.refused
        reader.client.subscribe(RULES_TOPIC, qos=1)
        reader.client.subscribe(DENYLIST_TOPIC, qos=1)  # its SUBACK follows the rules
        deadline = time.monotonic() + WAIT_S
        while len(reader.subscribed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return [p for t, p in reader.messages if t == RULES_TOPIC and p]
    finally:
        reader.close()


def _retain(client: Client, topic: str, payload: bytes) -> int:
    info = client.client.publish(topic, payload, qos=1, retain=True)
    deadline = time.monotonic() + WAIT_S
    while info.mid not in client.published and time.monotonic() < deadline:
        time.sleep(0.01)
    return client.published.get(info.mid, -1)


def test_the_hub_republishes_cleared_rules_over_tls(
    tls_rig: TlsRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duties, "RETAINED_CHECK_S", CHECK_S)
    tls_rig.add_device("kiosk-2")
    tls_rig.broker.start()
    files = hub_client_tls(tls_rig.config.data_dir)
    service = HubService(tls_rig.seeded.hub, BrokerAddress("127.0.0.1", tls_rig.broker.port))
    service.configure_tls(str(files.ca), str(files.cert), str(files.key))
    service.start()
    try:
        assert service.wait_connected(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while not _retained_rules(tls_rig, "reader-1"):
            assert time.monotonic() < deadline, "the hub never published its rules"
        device = tls_rig.connect_device("kiosk-2")
        try:
            assert _retain(device, RULES_TOPIC, b"") == NOT_AUTHORIZED
        finally:
            device.close()
        admin = connect(tls_rig.broker.port, files.ca, files.cert, files.key, name="admin")
        try:
            assert _retain(admin, RULES_TOPIC, b"") < 0x80
        finally:
            admin.close()
        deadline = time.monotonic() + CHECK_S + 3.0
        while service.config.reasserted[RULES_TOPIC] == 0:
            assert time.monotonic() < deadline, "the hub did not notice its rules were gone"
            time.sleep(0.05)
        assert _retained_rules(tls_rig, "reader-2")
    finally:
        service.stop()
