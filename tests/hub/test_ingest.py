"""The hub over MQTT: signed intents in, signed results out, bad input refused.

Scenario: a hub serves a private mosquitto; a kiosk sends purchases and a redemption
and gets signed results; then a stranger, a forger and a broken device send malformed,
oversize, unsigned and mis-addressed messages. Each gets a rejection with a reason
code (where it can be addressed), nothing changes in the ledger, and the hub keeps
serving. Presence, heartbeats, snapshot queries and the retained rules and deny list
flow as the protocol says.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub import admin, db
from hub.broker import PrivateBroker
from hub.service import HubService
from hub.verify import verify_ledger
from tapcard.device.scripted import ScriptedDevice
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import HUB_SIGNER, seal, unseal
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC, Family, device_topic
from tests.clock import pinned_now_ms
from tests.conftest import Seeded, broker_address
from tests.hub.processes import wait_until
from tests.hub.support import purchase

WAIT_S = 10.0
COPIES = 3  # the same signed intent, published this many times


@pytest.fixture
def service(seeded_sqlite: Seeded, broker: PrivateBroker) -> Iterator[HubService]:
    instance = HubService(seeded_sqlite.hub, broker_address(broker), worker=uuid.uuid4().hex[:8])
    instance.start()
    assert instance.wait_connected(WAIT_S)
    yield instance
    instance.stop()


@pytest.fixture
def kiosk(
    seeded_sqlite: Seeded, broker: PrivateBroker, service: HubService
) -> Iterator[ScriptedDevice]:
    device = ScriptedDevice(
        seeded_sqlite.device_id,
        seeded_sqlite.device_key,
        seeded_sqlite.hub.secrets.hub_key.verify_key,
        broker.host,
        broker.port,
    )
    yield device
    device.close()


class Listener:
    """A plain MQTT client collecting what arrives on some topics."""

    def __init__(self, broker: PrivateBroker, topics: list[str]) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._subscribed = 0
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        # What is published before the broker acknowledges a subscription never arrives.
        with self._cond:
            acked = self._cond.wait_for(lambda: self._subscribed == len(topics), WAIT_S)
        assert acked, f"the broker acknowledged {self._subscribed} of {len(topics)} topics"

    def _on_subscribe(self, *_args: Any) -> None:
        with self._cond:
            self._subscribed += 1
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, predicate: Any, timeout_s: float = WAIT_S) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for msg in self.messages:
                    if predicate(msg):
                        return msg
                remaining = deadline - time.monotonic()
                assert remaining > 0, "expected message did not arrive"
                self._cond.wait(remaining)

    def results(self, hub_key: VerifyKey) -> list[m.TxResult]:
        """Every result in the hub's signed answers that arrived so far."""
        with self._cond:
            payloads = [(bytes(msg.payload), msg.topic) for msg in self.messages]
        out: list[m.TxResult] = []
        for payload, topic in payloads:
            _, batch = unseal(payload, topic, lambda _s: hub_key, m.TxResults)
            out.extend(batch.results)
        return out

    def wait_results(
        self, hub_key: VerifyKey, count: int, timeout_s: float = WAIT_S
    ) -> list[m.TxResult]:
        """The first `count` results, once that many arrived."""
        with self._cond:
            arrived = self._cond.wait_for(lambda: len(self.results(hub_key)) >= count, timeout_s)
        got = self.results(hub_key)
        assert arrived, f"{len(got)} of {count} results arrived within {timeout_s} s"
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def transfers(seeded: Seeded) -> int:
    with seeded.hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one())


def test_purchase_and_redemption_over_mqtt(seeded_sqlite: Seeded, kiosk: ScriptedDevice) -> None:
    card = seeded_sqlite.cards[0]
    bought = kiosk.send(card, purchase(60_000))
    redeemed = kiosk.send(card, m.Redeem(item="PARK-HOUR", units=2))
    assert bought.accepted and bought.points_earned == 540
    assert redeemed.accepted and redeemed.voucher
    assert redeemed.balances == m.Balances(points=340, growth=540, stored_value_cents=0)
    assert kiosk.bad_results == 0
    with seeded_sqlite.hub.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_resent_intent_is_answered_again_not_applied_again(
    seeded_sqlite: Seeded, kiosk: ScriptedDevice, broker: PrivateBroker
) -> None:
    hub_key = seeded_sqlite.hub.secrets.hub_key.verify_key
    listener = Listener(broker, [device_topic("kiosk-1", Family.RESULT)])
    try:
        sealed = kiosk.make(seeded_sqlite.cards[0], m.TopUp(amount_cents=1_000))
        for _ in range(COPIES):
            kiosk.publish(sealed)
        # The hub answers a batch after committing it: three answers mean all three
        # copies were applied or replayed, so the count below is final.
        answers = listener.wait_results(hub_key, COPIES)
    finally:
        listener.close()
    assert [a.tx_id for a in answers] == [sealed.tx_id] * COPIES
    assert all(a.accepted for a in answers)
    assert answers[1:] == answers[:1] * (COPIES - 1), "a copy was answered differently"
    assert transfers(seeded_sqlite) == 1
    assert seeded_sqlite.hub.ledger.counters["duplicate"] == COPIES - 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", Reason.MALFORMED),
        (b'{"v":1,"signer":"kiosk-1"}', Reason.MALFORMED),
        (b"x" * (m.PAYLOAD_BYTES_MAX + 1), Reason.OVERSIZE),
        (b'{"v":9,"signer":"kiosk-1","body":"{}","sig":""}', Reason.UNSUPPORTED_VERSION),
    ],
)
def test_malformed_payloads_are_refused(
    seeded_sqlite: Seeded,
    kiosk: ScriptedDevice,
    broker: PrivateBroker,
    payload: bytes,
    reason: Reason,
) -> None:
    listener = Listener(broker, [device_topic("kiosk-1", Family.RESULT)])
    try:
        kiosk.publish_raw(Family.TX, payload)
        msg = listener.wait_for(lambda _msg: True)
        _, batch = unseal(
            msg.payload,
            msg.topic,
            lambda _s: seeded_sqlite.hub.secrets.hub_key.verify_key,
            m.TxResults,
        )
        [result] = batch.results
    finally:
        listener.close()
    assert not result.accepted and result.reason == reason
    assert transfers(seeded_sqlite) == 0


def test_bad_signature_wrong_signer_and_schema_violation(
    seeded_sqlite: Seeded, kiosk: ScriptedDevice, service: HubService
) -> None:
    card = seeded_sqlite.cards[0]
    # Signed with another key: the result names the intent so the device can match it.
    forged = kiosk.make(card, m.TopUp(amount_cents=1_000))
    kiosk.client.publish(
        forged.topic, seal(SigningKey.generate(), "kiosk-1", forged.topic, forged.intent), qos=1
    )
    refused = kiosk.wait(forged.tx_id)
    assert refused.reason == Reason.BAD_SIGNATURE and refused.seq == forged.seq
    # A body that names another device than the topic and signer.
    intent = msgspec.structs.replace(
        kiosk.make(card, m.TopUp(amount_cents=5)).intent, device="kiosk-2"
    )
    kiosk.publish_raw(Family.TX, kiosk.sealed_body(Family.TX, intent))
    assert kiosk.wait(intent.tx_id).reason == Reason.DEVICE_MISMATCH
    # A negative amount violates the schema. Signed by the device itself, resending it
    # cannot help: it is set aside (its seq used, nothing booked; hub/dead_letters.py).
    bad = msgspec.json.encode(kiosk.make(card, m.TopUp(amount_cents=5)).intent).replace(
        b'"amount_cents":5', b'"amount_cents":-5'
    )
    kiosk.publish_raw(Family.TX, _sign_raw(seeded_sqlite, forged.topic, bad))
    tx_id = uuid.UUID(msgspec.json.decode(bad)["tx_id"])
    aside = kiosk.wait(tx_id)
    assert aside.reason == Reason.SET_ASIDE and "schema violation" in aside.message
    assert transfers(seeded_sqlite) == 0
    assert service.counters["rejected.bad_signature"] == 1
    assert service.counters["rejected.schema"] == 1


def _sign_raw(seeded: Seeded, topic: str, body: bytes) -> bytes:
    import base64

    signature = seeded.device_key.sign(b"tapcard/v1\n" + topic.encode() + b"\n" + body).signature
    return msgspec.json.encode(
        {
            "v": 1,
            "signer": "kiosk-1",
            "body": body.decode(),
            "sig": base64.b64encode(signature).decode(),
        }
    )


def test_unknown_and_revoked_devices_are_refused(
    seeded_sqlite: Seeded, broker: PrivateBroker, service: HubService
) -> None:
    hub_key = seeded_sqlite.hub.secrets.hub_key.verify_key
    # Refused and counted, but never answered: the hub signs nothing for them.
    stranger = ScriptedDevice("stranger", SigningKey.generate(), hub_key, broker.host, broker.port)
    key = seeded_sqlite.add_device("kiosk-9")
    with seeded_sqlite.hub.transaction() as conn:
        admin.revoke_device(conn, "kiosk-9", "test")
    revoked = ScriptedDevice("kiosk-9", key, hub_key, broker.host, broker.port)
    try:
        stranger.publish(stranger.make(seeded_sqlite.cards[0], purchase(100)))
        revoked.publish(revoked.make(seeded_sqlite.cards[0], purchase(100)))
        counted = ("rejected.unknown_device", "rejected.device_revoked")
        wait_until(lambda: all(service.counters[n] == 1 for n in counted), WAIT_S, "refusals")
        assert service.counters["unanswered.unknown_device"] == 1
        assert service.counters["unanswered.device_revoked"] == 1
        assert stranger.results == {} and revoked.results == {}
    finally:
        stranger.close()
        revoked.close()
    assert transfers(seeded_sqlite) == 0


def test_status_health_and_snapshot_query(
    seeded_sqlite: Seeded, kiosk: ScriptedDevice, broker: PrivateBroker
) -> None:
    now_ms = pinned_now_ms()
    kiosk.publish_raw(
        Family.STATUS,
        kiosk.sealed_body(Family.STATUS, m.Status(device="kiosk-1", online=True, at_ms=now_ms)),
    )
    health = m.Health(
        device="kiosk-1", at_ms=now_ms, software_version="9.9", rules_version=1, outbox_depth=3
    )
    kiosk.publish_raw(Family.HEALTH, kiosk.sealed_body(Family.HEALTH, health))
    deadline = time.monotonic() + WAIT_S
    row: Any = None
    while time.monotonic() < deadline:
        with seeded_sqlite.hub.engine.connect() as conn:
            row = conn.execute(sa.select(db.devices).where(db.devices.c.id == "kiosk-1")).one()
        if row.online and row.software_version == "9.9":
            break
        time.sleep(0.05)
    assert row.online and row.software_version == "9.9"
    assert msgspec.json.decode(row.health)["outbox_depth"] == 3

    reply_topic = device_topic("kiosk-1", Family.REPLY)
    listener = Listener(broker, [reply_topic])
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = b"q-1"
        query = m.SnapshotQuery(device="kiosk-1", card_id=seeded_sqlite.cards[1])
        kiosk.client.publish(
            device_topic("kiosk-1", Family.QUERY),
            kiosk.sealed_body(Family.QUERY, query),
            qos=1,
            properties=props,
        )
        msg = listener.wait_for(lambda msg: msg.properties.CorrelationData == b"q-1")
    finally:
        listener.close()
    _, snapshot = unseal(
        msg.payload, msg.topic, lambda _s: seeded_sqlite.hub.secrets.hub_key.verify_key, m.Snapshot
    )
    assert snapshot.found and snapshot.card_id == seeded_sqlite.cards[1]
    assert snapshot.member_name_masked == "A*******a" and snapshot.tier == "regular"


def test_retained_rules_and_deny_list_follow_changes(
    seeded_sqlite: Seeded, own_broker: PrivateBroker
) -> None:
    # Its own broker: retained messages of other tests' hubs (other keys) stay away.
    broker = own_broker
    service = HubService(seeded_sqlite.hub, broker_address(broker), worker="retained")
    service.start()
    try:
        _check_retained(seeded_sqlite, broker)
    finally:
        service.stop()


def _check_retained(seeded_sqlite: Seeded, broker: PrivateBroker) -> None:
    listener = Listener(broker, [RULES_TOPIC, DENYLIST_TOPIC])
    hub_key = seeded_sqlite.hub.secrets.hub_key.verify_key
    try:
        rules_msg = listener.wait_for(lambda msg: msg.topic == RULES_TOPIC)
        signer, doc = unseal(
            rules_msg.payload,
            RULES_TOPIC,
            lambda _s: hub_key,
            m.RulesDoc,
            size_max=m.RULES_PAYLOAD_BYTES_MAX,
        )
        assert signer == HUB_SIGNER and doc.version == 1
        late = Listener(broker, [RULES_TOPIC])  # a device that starts later gets it too
        try:
            assert late.wait_for(lambda msg: msg.topic == RULES_TOPIC).retain
        finally:
            late.close()
        started = time.monotonic()
        with seeded_sqlite.hub.transaction() as conn:
            admin.report_lost(conn, seeded_sqlite.cards[0], "test")

        def lists_card(msg: mqtt.MQTTMessage) -> bool:
            if msg.topic != DENYLIST_TOPIC:
                return False
            _, deny = unseal(
                msg.payload,
                DENYLIST_TOPIC,
                lambda _s: hub_key,
                m.DenyList,
                size_max=m.RULES_PAYLOAD_BYTES_MAX,
            )
            return seeded_sqlite.cards[0] in deny.cards

        listener.wait_for(lists_card)
        assert time.monotonic() - started < 5.0
    finally:
        listener.close()


def test_rejections_are_counted_in_the_database(
    seeded_sqlite: Seeded, kiosk: ScriptedDevice, service: HubService
) -> None:
    kiosk.publish_raw(Family.TX, b"garbage")
    refused = kiosk.send("C999999", purchase(100))
    assert refused.reason == Reason.UNKNOWN_CARD
    service.stop()  # stopping flushes what was counted
    with seeded_sqlite.hub.engine.connect() as conn:
        counts = dict(conn.execute(sa.select(db.counters.c.name, db.counters.c.value)).all())
    assert counts["rejected.malformed"] == 1
    assert counts["rejected.unknown_card"] == 1
