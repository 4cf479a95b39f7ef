"""The embedded broker as shipped: every device logs in as itself, nobody anonymously.

Scenario: the hub's private mosquitto follows the registry. A provisioned terminal logs in
with the password from its bundle and publishes on its own topics; what it publishes on
another device's topic never reaches the hub. An anonymous client and a wrong password
are refused at CONNECT. A device revoked at the hub cannot connect once the broker has
re-read its logins; a device added later can. The device link logs in with its bundle.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.admin import revoke_device
from hub.app import Hub
from hub.broker import REGISTRY_FOLLOW_S, PrivateBroker
from hub.config import BrokerAddress, HubConfig
from hub.deploy.provision import embedded_login
from tapcard.device.bundle import Bundle
from tapcard.device.link import device_client
from tapcard.mqtt import EventKind, Session
from tapcard.wire.keys import signing_key_text, verify_key_text
from tapcard.wire.topics import RULES_TOPIC, Family, device_topic
from tests.conftest import Seeded
from tests.hub.test_cli import Cli, hub_cli  # noqa: F401 (a fixture)

WAIT_S = 10.0
QUIET_S = 1.0  # how long a message that must not arrive is waited for


class Client:
    """A plain MQTT 5 client that says how the broker answered its CONNECT."""

    def __init__(self, address: BrokerAddress, topics: tuple[str, ...] = ()) -> None:
        self.connack: Any = None
        self.messages: list[str] = []
        self._cond = threading.Condition()
        self._topics = topics
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if address.username:
            self.paho.username_pw_set(address.username, address.password)
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = lambda *_a: self._note("subscribed")
        self.paho.connect(address.host, address.port)
        self.paho.loop_start()
        with self._cond:
            assert self._cond.wait_for(lambda: self.connack is not None, WAIT_S)
        if topics and self.accepted:
            with self._cond:
                assert self._cond.wait_for(lambda: "subscribed" in self.messages, WAIT_S)

    def _note(self, what: str) -> None:
        with self._cond:
            self.messages.append(what)
            self._cond.notify_all()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        for topic in self._topics:
            client.subscribe(topic, qos=1)
        with self._cond:
            self.connack = reason
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._note(msg.topic)

    @property
    def accepted(self) -> bool:
        return not self.connack.is_failure

    def publish(self, topic: str) -> None:
        self.paho.publish(topic, b"{}", qos=1).wait_for_publish(WAIT_S)

    def saw(self, topic: str, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: topic in self.messages, timeout_s)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def shipped(seeded_sqlite: Seeded, tmp_path: Path) -> Iterator[PrivateBroker]:
    """The embedded broker as `tapcard hub serve` and the demo start it."""
    seeded_sqlite.add_device("term-2")
    broker = PrivateBroker(tmp_path / "broker", registry=seeded_sqlite.hub.engine)
    broker.start()
    yield broker
    broker.stop()


def test_a_device_publishes_on_its_own_topics_only(
    seeded_sqlite: Seeded, shipped: PrivateBroker
) -> None:
    own = device_topic(seeded_sqlite.device_id, Family.TX)
    other = device_topic("term-2", Family.TX)
    hub = Client(shipped.hub_address, (own, other))
    device = Client(shipped.device_address(seeded_sqlite.device_id))
    try:
        assert device.accepted
        device.publish(other)
        device.publish(RULES_TOPIC)  # the retained config is the hub's alone
        device.publish(own)
        assert hub.saw(own, WAIT_S)
        assert not hub.saw(other, QUIET_S)
        assert RULES_TOPIC not in hub.messages
    finally:
        device.close()
        hub.close()


def test_anonymous_and_wrong_logins_are_refused(
    seeded_sqlite: Seeded, shipped: PrivateBroker
) -> None:
    wrong = BrokerAddress(shipped.host, shipped.port, seeded_sqlite.device_id, "guess")
    other = shipped.device_address("term-2")
    borrowed = BrokerAddress(shipped.host, shipped.port, seeded_sqlite.device_id, other.password)
    for address in (shipped.address, wrong, borrowed):
        client = Client(address)
        try:
            assert not client.accepted, address
        finally:
            client.close()


def test_a_revoked_device_cannot_connect_and_a_new_one_can(
    seeded_sqlite: Seeded, shipped: PrivateBroker
) -> None:
    with seeded_sqlite.hub.transaction() as conn:
        revoke_device(conn, "term-2", "test")
    seeded_sqlite.add_device("term-3")
    deadline = time.monotonic() + REGISTRY_FOLLOW_S + WAIT_S
    while "term-3" not in shipped.admitted and time.monotonic() < deadline:
        time.sleep(0.1)  # the broker follows the registry on its own
    assert "term-3" in shipped.admitted and "term-2" not in shipped.admitted
    time.sleep(0.5)  # mosquitto re-reads its files on the SIGHUP the follower sent
    revoked = Client(shipped.device_address("term-2"))
    added = Client(shipped.device_address("term-3"))
    try:
        assert not revoked.accepted
        assert added.accepted
    finally:
        revoked.close()
        added.close()


def test_the_device_link_logs_in_with_its_bundle(
    seeded_sqlite: Seeded, shipped: PrivateBroker, tmp_path: Path
) -> None:
    hub = seeded_sqlite.hub
    bundle = embedded_login(
        {
            "device_id": seeded_sqlite.device_id,
            "branch_id": "shop-1",
            "kind": "terminal",
            "device_key": signing_key_text(seeded_sqlite.device_key),
            "hub_public_key": verify_key_text(hub.secrets.hub_key.verify_key),
            "issuer_public_key": verify_key_text(hub.secrets.issuer_key.verify_key),
            "broker": str(shipped.address),
        },
        tmp_path,  # the hub's data folder: the broker's is tmp_path / "broker"
    )
    assert bundle["broker_password"] == shipped.device_address(seeded_sqlite.device_id).password
    parsed = Bundle.parse(json.dumps(bundle).encode())
    session = Session(
        client_id=f"tapcard-dev-{seeded_sqlite.device_id}",
        host=shipped.host,
        port=shipped.port,
        session_expiry_s=0,
        subscriptions=((device_topic(seeded_sqlite.device_id, Family.RESULT), 1),),
        queued=frozenset(EventKind),
        reconnect_delay_s_max=1,
    )
    client = device_client(parsed, session)
    client.start()
    try:
        assert client.subscribed.wait(WAIT_S)
    finally:
        client.stop(end_session=True)


def test_a_bundle_from_device_add_logs_in_at_the_hubs_broker(
    hub_cli: Cli,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """`tapcard hub device add` (no --broker: this hub runs the broker) writes the login;
    the broker the hub starts in its data folder admits the device with it."""
    out = tmp_path / "till-9.json"
    hub_cli.ok(
        "device", "add", "till-9", "--branch", "shop-1", "--kind", "terminal", "--out", str(out)
    )
    bundle = json.loads(out.read_text())
    # The same login again, for a bundle from before the logins (docs/operations.md).
    assert hub_cli.ok("device", "broker-login", "till-9") == bundle["broker_password"] + "\n"
    assert "not registered" in hub_cli.error("device", "broker-login", "till-0")
    hub = Hub.open(HubConfig(hub_cli.data, f"sqlite:///{hub_cli.data / 'hub.sqlite3'}", None))
    broker = PrivateBroker(hub_cli.data / "broker", registry=hub.engine)
    broker.start()
    try:
        login = BrokerAddress(broker.host, broker.port, "till-9", bundle["broker_password"])
        device = Client(login)
        assert device.accepted
        device.close()
    finally:
        broker.stop()
        hub.close()
