"""The device's MQTT link to the hub: presence, heartbeat, config, snapshots, sending.

The one tapcard MQTT client (`tapcard.mqtt`: MQTT 5 with a persistent session, so
results published while the device was away wait at the broker). paho's network thread
only hands events to a bounded queue; one worker thread ("tapcard-link") does
everything else at its own pace: it drains the outbox in sequence order over QoS 1
with at most INFLIGHT_MAX unanswered, resends what has no result after RESEND_AFTER_S
(doubling up to RESEND_AFTER_S_MAX), marks entries done only when the hub's signed
result for that tx_id arrives, stores the hub-signed rule set, deny list and product
catalog, and sends
the heartbeat. Every handler is wrapped so that an exception is logged and the worker
keeps going.

Presence: the retained `status` topic carries a signed Status(online=True) after each
connect, and the last will (prepared before each connect attempt, signed, retained)
says online=False with the same `at_ms`, so the hub orders them right.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec
import paho.mqtt.client as mqtt

from tapcard.clock import Clock
from tapcard.device.bundle import Bundle
from tapcard.device.store import PENDING_FETCH_MAX, DeviceStore
from tapcard.mqtt import Event, EventKind, Identity, MqttClient, Session, catch_log_exception
from tapcard.wire import messages as m
from tapcard.wire.bay_messages import BayStart
from tapcard.wire.codes import FORM_REASONS, Reason
from tapcard.wire.envelope import WireError, signed_by_hub, unseal
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    PRODUCTS_TOPIC,
    RULES_TOPIC,
    Family,
    device_topic,
    rules_topic_rank,
    scoped_rules_topics,
)

log = logging.getLogger(__name__)

HEARTBEAT_S: Final = 10.0
SESSION_EXPIRY_S: Final = 7 * 24 * 3600  # the broker keeps our results while we are away
RECONNECT_DELAY_S_MAX: Final = 30
INFLIGHT_MAX: Final = 1_000  # published intents without a result yet
RESEND_AFTER_S: Final = 10.0  # no result this long after sending: send again
RESEND_AFTER_S_MAX: Final = 120.0
RESEND_CHECK_S: Final = 0.5
SNAPSHOT_TIMEOUT_S: Final = 1.5  # then the caller decides offline from the cache
QUERIES_MAX: Final = 64  # snapshot queries waiting for their reply
EVENTS_BATCH_MAX: Final = 2_000  # handled per worker turn; results are marked in one commit
TICK_S: Final = 0.05  # the worker's idle wake-up
STOP_TIMEOUT_S: Final = 5.0
STATUS_PUBLISH_TIMEOUT_S: Final = 1.0
ALARM_PUBLISH_REFUSED: Final = "publish_refused"
ALARM_DEVICE_REFUSED: Final = "device_refused"
ALARM_BAD_MESSAGE: Final = "bad_hub_message"
ALARM_RESEND_INCOMPLETE: Final = "resend_incomplete"  # the hub wants entries we pruned
# The retained rule set, deny list or product catalog was cleared at the broker: we keep
# what we hold (a device must never run without rules) and say so; the hub publishes it
# again.
ALARM_CONFIG_CLEARED: Final = "config_cleared"
# The hub set intents aside (poison, or a body it refuses): they sit in the store's
# dead-letter list, never sent again, until someone looks (it survives restarts).
ALARM_DEAD_LETTER: Final = "dead_letter"
CONFIG_TOPICS: Final = frozenset({RULES_TOPIC, DENYLIST_TOPIC, PRODUCTS_TOPIC})
assert RESEND_AFTER_S <= RESEND_AFTER_S_MAX
assert 0 < PENDING_FETCH_MAX <= INFLIGHT_MAX
assert SNAPSHOT_TIMEOUT_S < RESEND_AFTER_S

_result_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class _Flight:
    seq: int
    topic: str
    payload: bytes
    sent_at: float
    attempt: int


@dataclass(frozen=True, slots=True)
class LinkHandlers:
    """What the runtime does with what arrives; each is called on the link's worker."""

    on_results: Callable[[list[m.TxResult]], None]
    on_rules: Callable[[m.RulesDoc], None]
    on_denylist: Callable[[m.DenyList], None]
    health: Callable[[], m.Health]
    versions: Callable[[], tuple[int, int]]  # (rules, deny list) held now
    # The product catalog (a terminal scans and quotes from it); a device kind that
    # sells nothing may leave both out and ignores the catalog.
    on_products: Callable[[m.ProductCatalog], None] | None = None
    products_version: Callable[[], int] = lambda: 0
    on_bay: Callable[[BayStart], None] | None = None  # a kiosk: the hub started its wash bay


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
        self.alarms: set[str] = {ALARM_DEAD_LETTER} if store.dead_letter_count() else set()
        self.last_sync_ms = 0
        self.counters: dict[str, int] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._inflight: dict[str, _Flight] = {}
        self._mids: dict[int, str] = {}
        self._cursor = 0  # highest seq published on this connection
        self._status_ms = 0
        self._next_heartbeat = 0.0
        self._next_resend_check = 0.0
        self._topic = {f: device_topic(self.device_id, f) for f in Family}
        # The branch's and this device's effective rules, where HQ gave them overrides.
        self._scoped_rules = scoped_rules_topics(bundle.branch_id, self.device_id)
        self._rules_rank = 0  # of the rules held: after a restart the scoped copy comes again
        self._worker = threading.Thread(target=self._run, name="tapcard-link", daemon=True)
        self.client = self._make_client()

    # --- lifecycle ------------------------------------------------------------------

    def _make_client(self) -> MqttClient[None]:
        return device_client(self.bundle, self._session(), will=self._will)

    def _session(self) -> Session:
        return Session(
            client_id=f"tapcard-dev-{self.device_id}",
            host=self.bundle.broker_host,
            port=self.bundle.broker_port,
            session_expiry_s=SESSION_EXPIRY_S,
            subscriptions=(
                (self._topic[Family.RESULT], 1),
                (self._topic[Family.REPLY], 1),
                (self._topic[Family.CONTROL], 1),
                (RULES_TOPIC, 1),
                *((topic, 1) for topic in self._scoped_rules),
                (DENYLIST_TOPIC, 1),
                *(((PRODUCTS_TOPIC, 1),) if self.handlers.on_products else ()),
                *(((self._topic[Family.BAY], 1),) if self.handlers.on_bay else ()),
            ),
            queued=frozenset(EventKind),
            reconnect_delay_s_max=RECONNECT_DELAY_S_MAX,
            requests_pending_max=QUERIES_MAX,
            fallbacks=self.bundle.broker_fallbacks,
        )

    def start(self) -> None:
        self.client.start()
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
        self.client.stop()

    @property
    def connected(self) -> bool:
        # The client's flag drops on paho's thread at once; ours once the worker is told.
        return self._connected.is_set() and self.client.connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def kick(self) -> None:
        """New entries in the outbox: send them without waiting for the next tick."""
        self._kick.set()

    def inflight(self) -> int:
        return len(self._inflight)

    def _will(self) -> tuple[str, m.Body]:
        """The last will, before each connect attempt (on paho's thread)."""
        # The will and the online status carry the same at_ms: the hub keeps the
        # newest status, so a will from an older connection cannot mark us offline.
        self._status_ms = self.clock.now_ms()
        body = m.Status(device=self.device_id, online=False, at_ms=self._status_ms)
        return self._topic[Family.STATUS], body

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

    def _take_events(self) -> list[Event[None]]:
        events = self.client.take(TICK_S, EVENTS_BATCH_MAX)
        if self._kick.is_set():
            self._kick.clear()
        return events

    @catch_log_exception
    def _handle(self, event: Event[None], results: list[m.TxResult]) -> None:
        if event.kind is EventKind.CONNECTED:
            self._after_connect()
        elif event.kind is EventKind.DISCONNECTED:
            self._connected.clear()
            self._inflight.clear()
            self._mids.clear()
            self._cursor = 0
        elif event.kind is EventKind.PUBLISHED:
            self._after_publish(event.mid, event.failed)
        elif event.kind is EventKind.MESSAGE:
            self._route(event, results)

    def _after_connect(self) -> None:
        self._inflight.clear()
        self._mids.clear()
        self._cursor = 0  # resend every pending entry from the first, in order
        self._publish_status(online=True, at_ms=self._status_ms)
        self._next_heartbeat = 0.0
        self._connected.set()
        log.info("device %s connected to %s:%d", self.device_id, *self.client.node)

    def _publish_status(self, online: bool, at_ms: int) -> mqtt.MQTTMessageInfo:
        body = m.Status(device=self.device_id, online=online, at_ms=at_ms)
        return self._publish(self._topic[Family.STATUS], body, retain=True)

    def _publish(self, topic: str, body: m.Body, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, body, qos=1, retain=retain)

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
        info = self.client.publish_sealed(flight.topic, flight.payload, qos=1, retain=False)
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

    def _route(self, event: Event[None], results: list[m.TxResult]) -> None:
        if not event.payload:
            self._cleared(event.topic)
            return
        try:
            if event.topic == self._topic[Family.RESULT]:
                self._on_result(event, results)
            elif event.topic == self._topic[Family.REPLY]:
                self._on_reply(event)
            elif event.topic == self._topic[Family.CONTROL]:
                self._on_control(event)
            elif event.topic == RULES_TOPIC or event.topic in self._scoped_rules:
                self._on_rules(event)
            elif event.topic == DENYLIST_TOPIC:
                self._on_denylist(event)
            elif event.topic == PRODUCTS_TOPIC:
                self._on_products(event)
            elif event.topic == self._topic[Family.BAY]:
                self._on_bay(event)
        except WireError as exc:
            self._refused(event.topic, exc)

    def _cleared(self, topic: str) -> None:
        """An empty message clears a retained one: nothing to take, and for the config
        nothing to drop either (the rules and deny list held stay in force)."""
        if topic not in CONFIG_TOPICS:
            return  # e.g. our own retained status, cleared when we were retired
        self.alarms.add(ALARM_CONFIG_CLEARED)
        self._count("config_cleared")
        log.warning("device %s: %s was cleared at the broker; keeping ours", self.device_id, topic)

    def _stale(self, topic: str, version: int, held: int) -> None:
        """A document older than the one held (a stale retained copy): kept ours."""
        self._count("config_stale")
        log.warning(
            "device %s: %s version %d is older than ours (%d); keeping ours",
            self.device_id,
            topic,
            version,
            held,
        )

    def _refused(self, topic: str, exc: WireError) -> None:
        self.alarms.add(ALARM_BAD_MESSAGE)
        self._count("bad_message")
        log.warning("device %s refused a message on %s: %s", self.device_id, topic, exc)

    def _on_control(self, event: Event[None]) -> None:
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

    def _on_result(self, event: Event[None], results: list[m.TxResult]) -> None:
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
        dead = {str(r.tx_id) for r in results if r.reason == Reason.SET_ASIDE}
        newly = set(self.store.mark_done(rows, self.clock.now_ms(), dead))
        if dead:
            self.alarms.add(ALARM_DEAD_LETTER)
            self._count("dead_letter", len(dead))
            log.error(
                "device %s: the hub set aside %d intents: dead-lettered", self.device_id, len(dead)
            )
        self.last_sync_ms = self.clock.now_ms()
        self._count("results", len(results))
        fresh = [r for r in results if str(r.tx_id) in newly]
        if fresh:
            self.handlers.on_results(fresh)

    def _on_reply(self, event: Event[None]) -> None:
        """A reply no query waits for (it came late): checked, then dropped."""
        unseal(event.payload, event.topic, self._hub_key_for, m.Snapshot)

    def _on_rules(self, event: Event[None]) -> None:
        _, doc = unseal(
            event.payload, event.topic, self._hub_key_for, m.RulesDoc, m.RULES_PAYLOAD_BYTES_MAX
        )
        if doc.version != doc.rules.version:
            raise WireError(Reason.SCHEMA, "rules document and rule set disagree on version")
        held = self.handlers.versions()[0]
        # Of one version the branch's rules go over the chain's, the device's over both.
        rank = rules_topic_rank(event.topic) or 0
        if (doc.version, rank) > (held, self._rules_rank):
            self.handlers.on_rules(doc)
            self._rules_rank = rank
            self.last_sync_ms = self.clock.now_ms()
        elif doc.version < held:
            self._stale(event.topic, doc.version, held)

    def _on_denylist(self, event: Event[None]) -> None:
        _, doc = unseal(
            event.payload, event.topic, self._hub_key_for, m.DenyList, m.DENYLIST_PAYLOAD_BYTES_MAX
        )
        held = self.handlers.versions()[1]
        if doc.version > held:
            self.handlers.on_denylist(doc)
            self.last_sync_ms = self.clock.now_ms()
        elif doc.version < held:
            self._stale(event.topic, doc.version, held)

    def _on_products(self, event: Event[None]) -> None:
        on_products = self.handlers.on_products
        if on_products is None:
            return
        key_for, size_max = self._hub_key_for, m.PRODUCTS_PAYLOAD_BYTES_MAX
        _, doc = unseal(event.payload, event.topic, key_for, m.ProductCatalog, size_max)
        held = self.handlers.products_version()
        if doc.version > held:
            on_products(doc)
            self.last_sync_ms = self.clock.now_ms()
        elif doc.version < held:
            self._stale(event.topic, doc.version, held)

    def _on_bay(self, event: Event[None]) -> None:
        _, start = unseal(event.payload, event.topic, self._hub_key_for, BayStart)
        if self.handlers.on_bay is not None and start.kiosk == self.device_id:
            self.handlers.on_bay(start)

    # --- snapshots (any thread) ----------------------------------------------------------

    def query_snapshot(
        self, card_id: str, timeout_s: float = SNAPSHOT_TIMEOUT_S, uid: str = "", qr: str = ""
    ) -> m.Snapshot | None:
        """The hub's snapshot of a card, or None when offline or no reply came in time.
        With `qr` (a member code naming the card) the hub takes the code once first."""
        if not self._connected.is_set():
            return None
        query = m.SnapshotQuery(
            device=self.device_id, card_id=card_id, uid=uid, segments=True, qr=qr
        )
        try:
            snapshot = self.client.request(Family.QUERY, query, m.Snapshot, timeout_s)
        except WireError as exc:
            self._refused(self._topic[Family.REPLY], exc)
            return None
        if snapshot is None or snapshot.card_id != card_id:
            return None
        return snapshot

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


def device_client(
    bundle: Bundle, session: Session, will: Callable[[], tuple[str, m.Body]] | None = None
) -> MqttClient[None]:
    """A client of this device: signs with the device key, takes replies signed by the
    hub, and speaks TLS when the bundle says so."""
    identity = Identity(bundle.device_id, bundle.device_key, signed_by_hub(bundle.hub_key))
    client = MqttClient[None](session, identity, will=will)
    if bundle.broker_password:  # the embedded broker: each device logs in as itself
        client.login(bundle.device_id, bundle.broker_password)
    tls = bundle.tls
    if tls is not None:
        client.tls_set(tls.ca, tls.cert or None, tls.key or None)
    return client


# The runtime wraps its own handlers with the link's wrapper.
__all__ = ["SNAPSHOT_TIMEOUT_S", "Link", "LinkHandlers", "catch_log_exception", "device_client"]
