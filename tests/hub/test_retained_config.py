"""The retained rule set and deny list on the embedded broker belong to the hub.

Scenario: a hub (`HubService`) serves on its own private mosquitto and publishes the
rule set and deny list, retained. An anonymous client and a client that connects as a
device try to clear them (an empty retained message) or to replace them: the broker
refuses both, and what it retains is still the hub's. Someone who may write them (the
hub's own login) clears them anyway, or the broker restarts without its store: the hub
reads its retained config back every RETAINED_CHECK_S (patched down here), notices, and
publishes it again, so a device that connects later still gets rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from hub import duties
from hub.broker import PrivateBroker, free_port
from hub.config import BrokerAddress
from hub.deploy.pki import HUB_IDENTITY
from hub.duties import RetainedProbe
from hub.service import HubService
from tapcard.wire import messages as m
from tapcard.wire.envelope import HUB_SIGNER, WireError, seal, signed_by_hub, unseal
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC
from tests.conftest import Seeded

WAIT_S = 10.0
CHECK_S = 1.0  # RETAINED_CHECK_S in these tests
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87


@pytest.fixture
def service(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubService]:
    monkeypatch.setattr(duties, "RETAINED_CHECK_S", CHECK_S)
    instance = HubService(seeded_sqlite.hub, own_broker.hub_address, worker="retained")
    instance.start()
    assert instance.wait_connected(WAIT_S)
    _wait_retained(own_broker.address, {RULES_TOPIC, DENYLIST_TOPIC})
    yield instance
    instance.stop()


def _wait_retained(address: BrokerAddress, topics: set[str]) -> dict[str, bytes]:
    """What the broker retains, once it retains something on each of `topics`."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = RetainedProbe(address).read() or {}
        if topics <= found.keys():
            return found
        assert time.monotonic() < deadline, f"retained only {sorted(found)}"
        time.sleep(0.05)


class Publisher:
    """A plain paho client that reports the broker's answer to each QoS 1 publish."""

    def __init__(self, address: BrokerAddress, client_id: str = "") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if address.username:
            self.client.username_pw_set(address.username, address.password)
        self.connack: list[int] = []
        self.acks: dict[int, int] = {}
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.append(rc.value)
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc.value)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        _wait(lambda: bool(self.connack), "CONNACK")

    def publish(self, topic: str, payload: bytes) -> int:
        """The reason code of the broker's PUBACK for a retained publish."""
        info = self.client.publish(topic, payload, qos=1, retain=True)
        _wait(lambda: info.mid in self.acks, "PUBACK")
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait(check: object, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.01)


def _version(seeded: Seeded, topic: str, payload: bytes) -> int:
    key_for = signed_by_hub(seeded.hub.secrets.hub_key.verify_key)
    if topic == RULES_TOPIC:
        return unseal(payload, topic, key_for, m.RulesDoc, len(payload))[1].version
    return unseal(payload, topic, key_for, m.DenyList, len(payload))[1].version


@pytest.mark.parametrize("client_id", ["", "tapcard-dev-kiosk-1"], ids=["anonymous", "device"])
def test_other_clients_cannot_clear_or_overwrite_the_config(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, service: HubService, client_id: str
) -> None:
    before = _wait_retained(own_broker.address, {RULES_TOPIC, DENYLIST_TOPIC})
    forged = seal(
        SigningKey.generate(),
        HUB_SIGNER,
        DENYLIST_TOPIC,
        m.DenyList(version=99, published_ms=1, cards=[]),
    )
    other = Publisher(own_broker.address, client_id)
    try:
        for topic in (RULES_TOPIC, DENYLIST_TOPIC):
            assert other.publish(topic, b"") == NOT_AUTHORIZED
            assert other.publish(topic, forged) == NOT_AUTHORIZED
    finally:
        other.close()
    after = RetainedProbe(own_broker.address).read()
    assert after == before
    assert _version(seeded_sqlite, RULES_TOPIC, after[RULES_TOPIC]) >= 1
    assert service.config.reasserted == {}  # nothing was lost, nothing published again


def test_a_wrong_hub_password_is_refused(own_broker: PrivateBroker) -> None:
    address = BrokerAddress(own_broker.host, own_broker.port, HUB_IDENTITY, "guessed")
    intruder = Publisher(address)
    try:
        assert intruder.connack == [NOT_AUTHORIZED]
    finally:
        intruder.close()


def test_the_hub_publishes_cleared_config_again_within_the_interval(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, service: HubService
) -> None:
    before = _wait_retained(own_broker.address, {RULES_TOPIC, DENYLIST_TOPIC})
    admin = Publisher(own_broker.hub_address)  # someone with the rights to clear them
    try:
        for topic in (RULES_TOPIC, DENYLIST_TOPIC):
            assert admin.publish(topic, b"") == 16  # 0x10: accepted, nobody subscribed
    finally:
        admin.close()
    cleared_at = time.monotonic()
    assert RetainedProbe(own_broker.address).read() == {}
    after = _wait_retained(own_broker.address, {RULES_TOPIC, DENYLIST_TOPIC})
    took_s = time.monotonic() - cleared_at
    assert took_s < CHECK_S + duties.CONFIG_CHECK_S + 1.0, took_s
    for topic in (RULES_TOPIC, DENYLIST_TOPIC):
        assert _version(seeded_sqlite, topic, after[topic]) == _version(
            seeded_sqlite, topic, before[topic]
        )
        # At least once: under load a second probe may still read the empty store
        # before the broker has taken the hub's publish. Each is one small publish.
        assert service.config.reasserted[topic] >= 1


def test_a_doc_not_signed_by_the_hub_is_replaced(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, service: HubService
) -> None:
    rules = seeded_sqlite.hub.rules.latest()
    forged_doc = m.RulesDoc(version=rules.version, published_ms=1, rules=rules)
    forged = seal(SigningKey.generate(), HUB_SIGNER, RULES_TOPIC, forged_doc)
    before = service.config.reasserted[RULES_TOPIC]
    admin = Publisher(own_broker.hub_address)
    try:
        admin.publish(RULES_TOPIC, forged)
    finally:
        admin.close()
    # More than before, not exactly once more: a probe may read the forged copy again
    # before the broker has taken the hub's answer to the first one.
    _wait(lambda: service.config.reasserted[RULES_TOPIC] > before, "the hub's rules again")

    def hub_signed_again() -> bool:
        found = _wait_retained(own_broker.address, {RULES_TOPIC})[RULES_TOPIC]
        try:
            return _version(seeded_sqlite, RULES_TOPIC, found) == rules.version
        except WireError:  # the forged copy, until the broker has taken the hub's
            return False

    _wait(hub_signed_again, "the hub-signed rules retained")


def test_a_broker_restarted_without_its_store_gets_the_config_again(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, service: HubService
) -> None:
    own_broker.stop()
    (own_broker.folder / "mosquitto.db").unlink(missing_ok=True)
    own_broker.start()
    assert RetainedProbe(own_broker.address).read() is not None  # the broker answers
    found = _wait_retained(own_broker.address, {RULES_TOPIC, DENYLIST_TOPIC})
    assert _version(seeded_sqlite, RULES_TOPIC, found[RULES_TOPIC]) >= 1


def test_the_probe_says_so_when_no_broker_answers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.duties"):
        assert RetainedProbe(BrokerAddress("127.0.0.1", free_port())).read() is None
    assert "could not read the retained config back" in caplog.text
