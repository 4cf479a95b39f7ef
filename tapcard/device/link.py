"""The device's MQTT link to the hub: presence, heartbeat, config, snapshots, sending.

paho-mqtt 2 with MQTT 5 and a persistent session (clean_start=False and a session
expiry), so results published while the device was away wait at the broker. paho's
network thread only hands events to a bounded queue; one worker thread ("tapcard-link")
does everything else at its own pace: it drains the outbox in sequence order over QoS 1
with at most INFLIGHT_MAX unanswered, resends what has no result after RESEND_AFTER_S
(doubling up to RESEND_AFTER_S_MAX), marks entries done only when the hub's signed
result for that tx_id arrives, stores the hub-signed rule set and deny list, and sends
the heartbeat. Every handler is wrapped so that an exception is logged and the worker
keeps going.

Presence: the retained `status` topic carries a signed Status(online=True) after each
connect, and the last will (prepared before each connect attempt, signed, retained)
says online=False with the same `at_ms`, so the hub orders them right.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypeVar

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tapcard.clock import Clock
from tapcard.device.bundle import Bundle
from tapcard.device.store import PENDING_FETCH_MAX, DeviceStore
from tapcard.mqtt import connect_persistent
from tapcard.wire import messages as m
from tapcard.wire.codes import FORM_REASONS, Reason
from tapcard.wire.envelope import WireError, seal, signed_by_hub, unseal
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC, Family, device_topic

log = logging.getLogger(__name__)

HEARTBEAT_S: Final = 10.0
MQTT_KEEPALIVE_S: Final = 10
SESSION_EXPIRY_S: Final = 7 * 24 * 3600  # the broker keeps our results while we are away
RECONNECT_DELAY_S_MIN: Final = 1
RECONNECT_DELAY_S_MAX: Final = 30
INFLIGHT_MAX: Final = 1_000  # published intents without a result yet
RESEND_AFTER_S: Final = 10.0  # no result this long after sending: send again
RESEND_AFTER_S_MAX: Final = 120.0
RESEND_CHECK_S: Final = 0.5
SNAPSHOT_TIMEOUT_S: Final = 1.5  # then the caller decides offline from the cache
QUERIES_MAX: Final = 64  # snapshot queries waiting for their reply
EVENT_QUEUE_LEN_MAX: Final = 20_000  # paho's thread blocks beyond this: TCP backpressure
EVENTS_BATCH_MAX: Final = 2_000  # handled per worker turn; results are marked in one commit
TICK_S: Final = 0.05  # the worker's idle wake-up
STOP_TIMEOUT_S: Final = 5.0
STATUS_PUBLISH_TIMEOUT_S: Final = 1.0
ALARM_PUBLISH_REFUSED: Final = "publish_refused"
ALARM_DEVICE_REFUSED: Final = "device_refused"
ALARM_BAD_MESSAGE: Final = "bad_hub_message"
ALARM_RESEND_INCOMPLETE: Final = "resend_incomplete"  # the hub wants entries we pruned
assert RESEND_AFTER_S <= RESEND_AFTER_S_MAX
assert 0 < PENDING_FETCH_MAX <= INFLIGHT_MAX
assert SNAPSHOT_TIMEOUT_S < RESEND_AFTER_S

P = ParamSpec("P")
R = TypeVar("R")

_result_encoder = msgspec.json.Encoder()


def catch_log_exception(func: Callable[P, R | None]) -> Callable[P, R | None]:
    """Log an exception raised by a handler and keep the caller going."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception:
            log.exception("device link handler %s failed", func.__name__)
            return None

    return wrapper


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # connected | disconnected | message | published
    topic: str = ""
    payload: bytes = b""
    correlation: bytes | None = None
    mid: int = 0
    failed: bool = False


@dataclass(slots=True)
class _Flight:
    seq: int
    topic: str
    payload: bytes
    sent_at: float
    attempt: int


@dataclass(slots=True)
class _Query:
    done: threading.Event = field(default_factory=threading.Event)
    snapshot: m.Snapshot | None = None


@dataclass(frozen=True, slots=True)
class LinkHandlers:
    """What the runtime does with what arrives; each is called on the link's worker."""

    on_results: Callable[[list[m.TxResult]], None]
    on_rules: Callable[[m.RulesDoc], None]
    on_denylist: Callable[[m.DenyList], None]
    health: Callable[[], m.Health]
    versions: Callable[[], tuple[int, int]]  # (rules, deny list) held now


class Link:
    def __init__(
        self, bundle: Bundle, store: DeviceStore, handlers: LinkHandlers, clock: Clock
    ) -> None:
        self.bundle = bundle
        self.clock = clock
        self._hub_key_for = signed_by_hub(bundle.hub_key)
        self.store = store
        self.handlers = handlers
        self.device_id = bundle.device_id
        self.alarms: set[str] = set()
        self.last_sync_ms = 0
        self.counters: dict[str, int] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._events: queue.Queue[_Event] = queue.Queue(maxsize=EVENT_QUEUE_LEN_MAX)
        self._inflight: dict[str, _Flight] = {}
        self._mids: dict[int, str] = {}
        self._cursor = 0  # highest seq published on this connection
        self._queries: dict[bytes, _Query] = {}
        self._queries_lock = threading.Lock()
        self._status_ms = 0
        self._next_heartbeat = 0.0
        self._next_resend_check = 0.0
        self._topic = {f: device_topic(self.device_id, f) for f in Family}
        self._worker = threading.Thread(target=self._run, name="tapcard-link", daemon=True)
        self.client = self._make_client()

    # --- lifecycle ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tapcard-dev-{self.device_id}",
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(0)  # our own window bounds it (INFLIGHT_MAX)
        client.reconnect_delay_set(RECONNECT_DELAY_S_MIN, RECONNECT_DELAY_S_MAX)
        tls = self.bundle.tls
        if tls is not None:
            client.tls_set(ca_certs=tls.ca, certfile=tls.cert or None, keyfile=tls.key or None)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        self._on_pre_connect(self.client, None)
        connect_persistent(
            self.client,
            self.bundle.broker_host,
            self.bundle.broker_port,
            MQTT_KEEPALIVE_S,
            SESSION_EXPIRY_S,
        )
        self._worker.start()

    def stop(self) -> None:
        """Say offline (retained), disconnect cleanly, stop both threads."""
        if self._connected.is_set():
            info = self._publish_status(online=False, at_ms=self.clock.now_ms())
            info.wait_for_publish(STATUS_PUBLISH_TIMEOUT_S)
        self._stop.set()
        self._kick.set()
        if self._worker.is_alive():
            self._worker.join(STOP_TIMEOUT_S)
        assert not self._worker.is_alive(), "link worker did not stop"
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def kick(self) -> None:
        """New entries in the outbox: send them without waiting for the next tick."""
        self._kick.set()

    def inflight(self) -> int:
        return len(self._inflight)

    # --- paho's thread: hand over, nothing else ---------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, _userdata: Any) -> None:
        # The will and the online status carry the same at_ms: the hub keeps the
        # newest status, so a will from an older connection cannot mark us offline.
        self._status_ms = self.clock.now_ms()
        body = m.Status(device=self.device_id, online=False, at_ms=self._status_ms)
        topic = self._topic[Family.STATUS]
        payload = seal(self.bundle.device_key, self.device_id, topic, body)
        client.will_set(topic, payload, qos=1, retain=True)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused device %s: %s", self.device_id, reason)
            return
        client.subscribe(
            [
                (self._topic[Family.RESULT], 1),
                (self._topic[Family.REPLY], 1),
                (self._topic[Family.CONTROL], 1),
                (RULES_TOPIC, 1),
                (DENYLIST_TOPIC, 1),
            ]
        )
        self._events.put(_Event("connected"))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self._events.put(_Event("disconnected"))
        if not self._stop.is_set():
            log.info("device %s lost the broker: %s", self.device_id, reason)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        correlation = getattr(msg.properties, "CorrelationData", None)
        self._events.put(_Event("message", msg.topic, bytes(msg.payload), correlation=correlation))

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        # MQTT 5: a broker that refuses a publish says so with a reason code >= 0x80.
        self._events.put(_Event("published", mid=mid, failed=bool(reason.is_failure)))

    # --- the worker -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._turn()

    @catch_log_exception
    def _turn(self) -> None:
        events = self._take_events()
        results: list[m.TxResult] = []
        for event in events:
            self._handle(event, results)
        if results:
            self._finish(results)
        if self._connected.is_set():
            self._fill_window()
            self._resend_due()
            self._heartbeat_due()

    def _take_events(self) -> list[_Event]:
        events: list[_Event] = []
        with contextlib.suppress(queue.Empty):
            events.append(self._events.get(timeout=TICK_S))
        while len(events) < EVENTS_BATCH_MAX:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        if self._kick.is_set():
            self._kick.clear()
        return events

    @catch_log_exception
    def _handle(self, event: _Event, results: list[m.TxResult]) -> None:
        if event.kind == "connected":
            self._after_connect()
        elif event.kind == "disconnected":
            self._inflight.clear()
            self._mids.clear()
            self._cursor = 0
        elif event.kind == "published":
            self._after_publish(event.mid, event.failed)
        elif event.kind == "message":
            self._route(event, results)

    def _after_connect(self) -> None:
        self._inflight.clear()
        self._mids.clear()
        self._cursor = 0  # resend every pending entry from the first, in order
        self._publish_status(online=True, at_ms=self._status_ms)
        self._next_heartbeat = 0.0
        self._connected.set()
        log.info("device %s connected to %s", self.device_id, self.bundle.broker_host)

    def _publish_status(self, online: bool, at_ms: int) -> mqtt.MQTTMessageInfo:
        body = m.Status(device=self.device_id, online=online, at_ms=at_ms)
        return self._publish(self._topic[Family.STATUS], body, retain=True)

    def _publish(self, topic: str, body: m.Body, retain: bool = False) -> mqtt.MQTTMessageInfo:
        payload = seal(self.bundle.device_key, self.device_id, topic, body)
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def _after_publish(self, mid: int, failed: bool) -> None:
        tx_id = self._mids.pop(mid, None)
        if not failed:
            return
        self.alarms.add(ALARM_PUBLISH_REFUSED)
        self._count("publish_refused")
        log.warning("broker refused publish %d (intent %s)", mid, tx_id)
        # The flight stays: it is sent again after its backoff.

    # --- sending ----------------------------------------------------------------------

    def _fill_window(self) -> None:
        room = INFLIGHT_MAX - len(self._inflight)
        if room <= 0:
            return
        rows = self.store.pending(self._cursor, min(room, PENDING_FETCH_MAX))
        now = time.monotonic()
        for row in rows:
            assert row.seq > self._cursor
            self._cursor = row.seq
            if row.tx_id in self._inflight:
                continue
            flight = _Flight(row.seq, row.topic, row.payload, now, 1)
            self._inflight[row.tx_id] = flight
            self._send(row.tx_id, flight)
        assert len(self._inflight) <= INFLIGHT_MAX

    def _send(self, tx_id: str, flight: _Flight) -> None:
        info = self.client.publish(flight.topic, flight.payload, qos=1, retain=False)
        self._mids[info.mid] = tx_id
        self._count("sent")

    def _resend_due(self) -> None:
        now = time.monotonic()
        if now < self._next_resend_check:
            return
        self._next_resend_check = now + RESEND_CHECK_S
        for tx_id, flight in sorted(self._inflight.items(), key=lambda kv: kv[1].seq):
            wait_s = min(RESEND_AFTER_S_MAX, RESEND_AFTER_S * 2 ** (flight.attempt - 1))
            if now - flight.sent_at >= wait_s:
                flight.sent_at = now
                flight.attempt += 1
                self._count("resent")
                self._send(tx_id, flight)

    def _heartbeat_due(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + HEARTBEAT_S
        self._publish(self._topic[Family.HEALTH], self.handlers.health())

    # --- receiving --------------------------------------------------------------------

    def _route(self, event: _Event, results: list[m.TxResult]) -> None:
        if not event.payload:
            return  # a cleared retained message
        try:
            if event.topic == self._topic[Family.RESULT]:
                self._on_result(event, results)
            elif event.topic == self._topic[Family.REPLY]:
                self._on_reply(event)
            elif event.topic == self._topic[Family.CONTROL]:
                self._on_control(event)
            elif event.topic == RULES_TOPIC:
                self._on_rules(event)
            elif event.topic == DENYLIST_TOPIC:
                self._on_denylist(event)
        except WireError as exc:
            self.alarms.add(ALARM_BAD_MESSAGE)
            self._count("bad_message")
            log.warning("device %s refused a message on %s: %s", self.device_id, event.topic, exc)

    def _on_control(self, event: _Event) -> None:
        _, resend = unseal(event.payload, event.topic, self._hub_key_for, m.Resend)
        if resend.device != self.device_id:
            raise WireError(Reason.DEVICE_MISMATCH, "a request for another device")
        reopened, oldest = self.store.reopen_from(resend.from_seq)
        if oldest > resend.from_seq:
            self.alarms.add(ALARM_RESEND_INCOMPLETE)
        log.warning(
            "hub asked device %s to resend from seq %d (%s): %d entries reopened%s",
            self.device_id,
            resend.from_seq,
            resend.reason,
            reopened,
            f"; entries before {oldest} are no longer kept" if oldest > resend.from_seq else "",
        )
        self._inflight.clear()
        self._mids.clear()
        self._cursor = 0  # send again from the oldest pending entry, in order

    def _on_result(self, event: _Event, results: list[m.TxResult]) -> None:
        _, batch = unseal(event.payload, event.topic, self._hub_key_for, m.TxResults)
        if batch.device != self.device_id:
            raise WireError(Reason.DEVICE_MISMATCH, "results for another device")
        for result in batch.results:
            if result.device != self.device_id:
                raise WireError(Reason.DEVICE_MISMATCH, "a result for another device")
            if result.reason in FORM_REASONS:
                # The hub could not read or trust the intent (unknown or revoked device):
                # nothing was decided, so the entry stays and is sent again later.
                self.alarms.add(ALARM_DEVICE_REFUSED)
                log.warning("hub refused intent %s: %s", result.tx_id, result.message)
                continue
            self._inflight.pop(str(result.tx_id), None)
            results.append(result)

    def _finish(self, results: list[m.TxResult]) -> None:
        rows = [(str(r.tx_id), _result_encoder.encode(r).decode()) for r in results]
        newly = set(self.store.mark_done(rows, self.clock.now_ms()))
        self.last_sync_ms = self.clock.now_ms()
        self._count("results", len(results))
        fresh = [r for r in results if str(r.tx_id) in newly]
        if fresh:
            self.handlers.on_results(fresh)

    def _on_reply(self, event: _Event) -> None:
        _, snapshot = unseal(event.payload, event.topic, self._hub_key_for, m.Snapshot)
        if event.correlation is None:
            return
        with self._queries_lock:
            waiting = self._queries.get(event.correlation)
        if waiting is not None:
            waiting.snapshot = snapshot
            waiting.done.set()

    def _on_rules(self, event: _Event) -> None:
        _, doc = unseal(
            event.payload, event.topic, self._hub_key_for, m.RulesDoc, m.RULES_PAYLOAD_BYTES_MAX
        )
        if doc.version != doc.rules.version:
            raise WireError(Reason.SCHEMA, "rules document and rule set disagree on version")
        if doc.version > self.handlers.versions()[0]:
            self.handlers.on_rules(doc)
            self.last_sync_ms = self.clock.now_ms()

    def _on_denylist(self, event: _Event) -> None:
        _, doc = unseal(
            event.payload, event.topic, self._hub_key_for, m.DenyList, m.DENYLIST_PAYLOAD_BYTES_MAX
        )
        if doc.version > self.handlers.versions()[1]:
            self.handlers.on_denylist(doc)
            self.last_sync_ms = self.clock.now_ms()

    # --- snapshots (any thread) ----------------------------------------------------------

    def query_snapshot(
        self, card_id: str, timeout_s: float = SNAPSHOT_TIMEOUT_S
    ) -> m.Snapshot | None:
        """The hub's snapshot of a card, or None when offline or no reply came in time."""
        if not self._connected.is_set():
            return None
        correlation = uuid.uuid4().bytes
        waiting = _Query()
        with self._queries_lock:
            if len(self._queries) >= QUERIES_MAX:
                return None
            self._queries[correlation] = waiting
        try:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = self._topic[Family.REPLY]
            props.CorrelationData = correlation
            topic = self._topic[Family.QUERY]
            body = m.SnapshotQuery(device=self.device_id, card_id=card_id)
            payload = seal(self.bundle.device_key, self.device_id, topic, body)
            self.client.publish(topic, payload, qos=1, retain=False, properties=props)
            waiting.done.wait(timeout_s)
        finally:
            with self._queries_lock:
                del self._queries[correlation]
        if waiting.snapshot is None or waiting.snapshot.card_id != card_id:
            return None
        return waiting.snapshot

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n
