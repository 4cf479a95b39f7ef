"""The one MQTT client (`tapcard.mqtt.MqttClient`) on the session's private mosquitto.

Scenario: a device asks a snapshot over request/response and a stand-in hub answers
with the correlation data echoed: the device gets the signed reply; with nobody
answering it gets None after its timeout; a reply signed by another key is refused.
Then a precheck that raises on one message is logged and the messages after it still
arrive, and with a queue of two a burst of QoS 1 messages all arrives: paho's thread
waits for room (backpressure) instead of dropping any.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from nacl.signing import SigningKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.broker import PrivateBroker
from tapcard import mqtt
from tapcard.mqtt import Event, EventKind, Identity, MqttClient, Session
from tapcard.wire import messages as m
from tapcard.wire.envelope import HUB_SIGNER, WireError, signed_by_hub
from tapcard.wire.topics import Family, device_filter, device_topic

WAIT_S = 10.0
DEVICE = "kiosk-9"


def _session(broker: PrivateBroker, subscriptions: tuple[str, ...], **kw: object) -> Session:
    return Session(
        client_id=f"test-mqtt-{uuid.uuid4().hex[:8]}",
        host=broker.host,
        port=broker.port,
        session_expiry_s=0,  # nothing of these tests stays at the broker
        subscriptions=tuple((s, 1) for s in subscriptions),
        queued=frozenset({EventKind.MESSAGE}),
        reconnect_delay_s_max=1,
        **kw,  # type: ignore[arg-type]  # the optional fields, as each test needs them
    )


def _started(client: MqttClient[object]) -> None:
    client.start()
    assert client.connected.wait(WAIT_S) and client.subscribed.wait(WAIT_S)


class Responder:
    """A stand-in hub: answers each query on its response topic, signed with `key`."""

    def __init__(self, broker: PrivateBroker, key: SigningKey) -> None:
        session = _session(broker, (device_filter(Family.QUERY),))
        self.client = MqttClient[object](session, Identity(HUB_SIGNER, key))
        self.answering = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-responder")

    def __enter__(self) -> Responder:
        _started(self.client)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)
        self.client.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in self.client.take(0.05, 10):
                if self.answering and event.response_topic is not None:
                    self._answer(event)

    def _answer(self, event: Event[object]) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho's Properties has no types
        props.CorrelationData = event.correlation
        body = m.Snapshot(card_id="c-1", found=False)
        assert event.response_topic is not None
        self.client.publish(event.response_topic, body, qos=1, retain=False, properties=props)


@pytest.fixture
def hub_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def device(broker: PrivateBroker, hub_key: SigningKey) -> Iterator[MqttClient[object]]:
    identity = Identity(DEVICE, SigningKey.generate(), signed_by_hub(hub_key.verify_key))
    reply_topic = device_topic(DEVICE, Family.REPLY)
    client = MqttClient[object](_session(broker, (reply_topic,), requests_pending_max=4), identity)
    _started(client)
    yield client
    client.stop()


def test_request_gets_the_signed_reply_or_none_in_time(
    broker: PrivateBroker, device: MqttClient[object], hub_key: SigningKey
) -> None:
    query = m.SnapshotQuery(device=DEVICE, card_id="c-1")
    with Responder(broker, hub_key) as responder:
        reply = device.request(Family.QUERY, query, m.Snapshot, WAIT_S)
        assert reply is not None and reply.card_id == "c-1" and not reply.found
        responder.answering = False
        started = time.monotonic()
        assert device.request(Family.QUERY, query, m.Snapshot, 0.3) is None
        assert 0.3 <= time.monotonic() - started < WAIT_S


def test_a_reply_signed_by_another_key_is_refused(
    broker: PrivateBroker, device: MqttClient[object]
) -> None:
    query = m.SnapshotQuery(device=DEVICE, card_id="c-1")
    with Responder(broker, SigningKey.generate()), pytest.raises(WireError):
        device.request(Family.QUERY, query, m.Snapshot, WAIT_S)


def _take_all(client: MqttClient[object], count: int) -> list[Event[object]]:
    taken: list[Event[object]] = []
    deadline = time.monotonic() + WAIT_S
    while len(taken) < count and time.monotonic() < deadline:
        taken += client.take(0.1, count)
    return taken


@pytest.mark.no_fail_on_log_exception
def test_a_failing_precheck_is_logged_and_the_next_messages_arrive(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    topic = device_topic(DEVICE, Family.HEALTH)

    def precheck(_topic: str, payload: bytes) -> object:
        if payload == b"bad":
            raise ValueError("cannot read this one")
        return len(payload)

    key = SigningKey.generate()
    receiver = MqttClient[object](
        _session(broker, (topic,)), Identity(HUB_SIGNER, key), precheck=precheck
    )
    sender = MqttClient[object](_session(broker, ()), Identity(DEVICE, key))
    _started(receiver)
    _started(sender)
    try:
        for payload in (b"bad", b"good", b"fine!"):
            sender.publish_sealed(topic, payload, qos=1, retain=False)
        taken = _take_all(receiver, 3)
    finally:
        sender.stop()
        receiver.stop()
    assert [(e.payload, e.note) for e in taken] == [(b"bad", None), (b"good", 4), (b"fine!", 5)]
    assert "MQTT handler precheck failed" in caplog.text


def test_a_full_queue_holds_paho_back_and_loses_nothing(
    broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt, "EVENT_QUEUE_LEN_MAX", 2)
    topic = device_topic(DEVICE, Family.TX)
    key = SigningKey.generate()
    receiver = MqttClient[object](_session(broker, (topic,)), Identity(HUB_SIGNER, key))
    sender = MqttClient[object](_session(broker, ()), Identity(DEVICE, key))
    _started(receiver)
    _started(sender)
    try:
        for n in range(50):
            sender.publish_sealed(topic, str(n).encode(), qos=1, retain=False)
        deadline = time.monotonic() + WAIT_S
        while not receiver._events.full():  # paho's thread now waits for room
            assert time.monotonic() < deadline, "the queue never filled"
            time.sleep(0.01)
        time.sleep(0.2)
        assert receiver._events.qsize() == 2
        taken = _take_all(receiver, 50)
    finally:
        sender.stop()
        receiver.stop()
    assert [e.payload for e in taken] == [str(n).encode() for n in range(50)]
