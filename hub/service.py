"""`tapcard hub serve`: MQTT ingest into the ledger, device presence, snapshots, config.

paho's network thread only queues messages (bounded); one worker thread decides at its
own pace, in batches: verify, apply in one database transaction, publish results, and
only then acknowledge the messages (manual acks), so a hub killed at any moment loses
nothing: the broker redelivers what was not acknowledged, devices resend what has no
result, and the ledger answers duplicates from its stored results.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub import admin, db
from hub.app import Hub
from hub.config import BrokerAddress
from hub.ledger import Incoming, body_digest, rejection
from hub.registry import DeviceRegistry, record_health
from tapcard import __version__
from tapcard.clock import today as clock_today
from tapcard.mqtt import connect_persistent
from tapcard.sdnotify import Watchdog
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import HUB_SIGNER, BodyDecoder, WireError, open_envelope, seal, verify
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    RULES_TOPIC,
    Family,
    device_filter,
    device_topic,
    parse_device_topic,
    shared_filter,
)

log = logging.getLogger(__name__)

INGEST_QUEUE_LEN_MAX = 20_000  # paho's thread blocks beyond this: TCP backpressure
BATCH_WAIT_MS = 4  # after the first message, gather more for this long
BATCH_MESSAGES_MAX = 500
MQTT_KEEPALIVE_S = 10
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our queue while we restart
# A worker in a shared group keeps its session only briefly: the broker goes on handing
# a dead member its share of the intents until the session expires. Devices resend what
# gets no result, so a short expiry loses nothing; a long one stalls that share.
SHARED_SESSION_EXPIRY_S = 120
LEAVE_WAIT_S = 5.0  # for the broker's UNSUBACK, and for paho to send our DISCONNECT
assert SHARED_SESSION_EXPIRY_S < SESSION_EXPIRY_S
CONFIG_CHECK_S = 0.5  # rule set and deny list changes reach devices this fast
COUNTERS_FLUSH_S = 5.0
RESEND_ASK_S = 30.0  # ask one device to resend at most this often
DB_RETRY_S_MAX = 5.0
RECONNECT_DELAY_S_MAX = 5
_NIL = "00000000-0000-0000-0000-000000000000"

_loose_decoder = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    properties: Any
    # An intent checked in paho's thread: (body, digest), or why it was refused.
    checked: tuple[m.Body, str] | WireError | None = None


class HubService:
    def __init__(self, hub: Hub, broker: BrokerAddress, worker: str = "1", shared: bool = False):
        self.hub = hub
        self.broker = broker
        self.shared = shared
        self.client_id = f"tapcard-hub-{worker}"
        self.registry = DeviceRegistry(hub.engine)
        self.counters: Counter[str] = Counter()
        self._queue: queue.Queue[_Message] = queue.Queue(maxsize=INGEST_QUEUE_LEN_MAX)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="hub-ingest", daemon=True)
        self._published: dict[str, int] = {}
        self._maintained_on: dt.date | None = None
        self._resend_asked: dict[str, float] = {}  # device -> when we last asked
        self._counters_flushed: Counter[str] = Counter()
        self._counters_flushed_at = 0.0
        self._last_config_check = 0.0
        self._decoders: dict[Family, BodyDecoder[Any]] = {
            Family.TX: BodyDecoder(m.TxIntent),
            Family.STATUS: BodyDecoder(m.Status),
            Family.HEALTH: BodyDecoder(m.Health),
            Family.QUERY: BodyDecoder(m.SnapshotQuery),
            Family.STAFF: BodyDecoder(m.StaffRequest),
        }
        self.connected = threading.Event()
        self.disconnected = threading.Event()  # set once paho has sent DISCONNECT
        # Set when the broker has granted the work subscriptions: before that, what a
        # device publishes may reach no subscriber (a new session keeps nothing for us).
        self.subscribed = threading.Event()
        self._subscribe_mid: int | None = None
        self.watchdog = Watchdog()  # pinged by the worker loop: a stall stops the pings
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        # paho scans its whole in-flight window on every PUBACK; unlimited skips that.
        self.client.max_inflight_messages_set(0)
        self.client.reconnect_delay_set(1, RECONNECT_DELAY_S_MAX)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # --- lifecycle ----------------------------------------------------------------

    def configure_tls(self, ca: str, cert: str, key: str) -> None:
        """TLS to the broker with the hub's client certificate (before `start`)."""
        self.client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)

    def start(self) -> None:
        connect_persistent(
            self.client,
            self.broker.host,
            self.broker.port,
            MQTT_KEEPALIVE_S,
            SHARED_SESSION_EXPIRY_S if self.shared else SESSION_EXPIRY_S,
        )
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=10)
        self._counters_flushed_at = 0.0
        self._flush_counters()
        if self.shared:
            # Leave the group at once: a stopped member would keep getting its share.
            # Unsubscribe and wait for the broker to confirm it, then end the session
            # (expiry 0): either alone has been seen to leave the member in the group.
            self._leave_group()
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
            sent = self.client.disconnect(properties=props)
        else:
            sent = self.client.disconnect()
        if sent == mqtt.MQTT_ERR_SUCCESS and not self.disconnected.wait(LEAVE_WAIT_S):
            log.warning("the broker did not see %s leave", self.client_id)
        self.client.loop_stop()

    def _work_filters(self) -> list[str]:
        """What this worker takes work from: shared with the other workers if `shared`."""
        wrap = shared_filter if self.shared else device_filter
        return [wrap(f) for f in (Family.TX, Family.HEALTH, Family.QUERY, Family.STAFF)]

    def _leave_group(self) -> None:
        if not self.connected.is_set():
            return
        left = threading.Event()
        self.client.on_unsubscribe = lambda *_args: left.set()
        result, _mid = self.client.unsubscribe(self._work_filters())
        if result == mqtt.MQTT_ERR_SUCCESS and not left.wait(LEAVE_WAIT_S):
            log.warning("the broker did not confirm %s left the group", self.client_id)

    def wait_connected(self, timeout_s: float) -> bool:
        """Connected and subscribed: from now on the hub hears what devices send."""
        deadline = time.monotonic() + timeout_s
        if not self.connected.wait(timeout_s):
            return False
        return self.subscribed.wait(max(0.0, deadline - time.monotonic()))

    # --- paho's thread: only queue ------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused the hub: %s", self.broker, reason)
            return
        self.subscribed.clear()
        _result, self._subscribe_mid = client.subscribe(
            [
                *((topic, 1) for topic in self._work_filters()),
                (device_filter(Family.STATUS), 1),  # retained: never through $share
            ]
        )
        self._published.clear()  # republish retained config after a broker restart
        self.disconnected.clear()
        self.connected.set()
        log.info("hub connected to %s", self.broker)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: Any, _p: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("broker %s refused the hub's subscriptions: %s", self.broker, refused)
            return
        self.subscribed.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self.disconnected.set()
        if not self._stop.is_set():
            log.warning("hub lost the broker: %s; reconnecting", reason)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        self._queue.put(
            _Message(
                msg.topic,
                payload,
                msg.mid,
                msg.qos,
                msg.properties,
                self._precheck(msg.topic, payload),
            )
        )

    def _precheck(self, topic: str, payload: bytes) -> tuple[m.Body, str] | WireError | None:
        """Verify intents here, in paho's thread: PyNaCl releases the GIL, so signature
        checks run on the other core while the worker applies the previous batch."""
        parsed = parse_device_topic(topic)
        if parsed is None or parsed[1] is not Family.TX or not payload:
            return None
        try:
            return self._unseal(parsed[0], Family.TX, payload, topic)
        except WireError as exc:
            return exc
        except Exception:  # never let one message kill paho's thread; the worker retries
            log.exception("could not pre-check a message on %s", topic)
            return None

    # --- the worker ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.watchdog.ping()
            batch = self._take_batch()
            try:
                if batch:
                    self._process(batch)
                self._publish_config_if_changed()
                self._maintain_daily()
                self._flush_counters()
            except Exception:
                # The database or broker is down: keep the messages unacknowledged and
                # try again; the broker redelivers them if we die meanwhile.
                log.exception("hub worker failed; retrying")
                self._retry_later(batch)

    def _retry_later(self, batch: list[_Message]) -> None:
        delay_s = 0.2
        while not self._stop.is_set():
            self.watchdog.ping()  # alive and retrying, not stalled
            time.sleep(delay_s)
            try:
                self._process(batch)
                return
            except Exception as exc:
                log.warning("hub worker still failing: %s", exc)
                delay_s = min(DB_RETRY_S_MAX, delay_s * 2)

    def _take_batch(self) -> list[_Message]:
        try:
            first = self._queue.get(timeout=CONFIG_CHECK_S)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT_MS / 1000
        while len(batch) < BATCH_MESSAGES_MAX:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=max(0.0, remaining)))
            except queue.Empty:
                break
        return batch

    def _process(self, batch: list[_Message]) -> None:
        intents: list[Incoming] = []
        for msg in batch:
            self._route(msg, intents)
        if intents:
            self._publish_results(self.hub.ledger.apply_batch(intents))
        for msg in batch:
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)

    def _route(self, msg: _Message, intents: list[Incoming]) -> None:
        parsed = parse_device_topic(msg.topic)
        if parsed is None or not msg.payload:
            return  # a cleared retained status, or not ours
        device_id, family = parsed
        try:
            if isinstance(msg.checked, WireError):
                raise msg.checked
            body, digest = msg.checked or self._unseal(device_id, family, msg.payload, msg.topic)
            if family is Family.TX:
                assert isinstance(body, m.TxIntent)
                branch = self.registry.get(device_id).branch_id
                intents.append(Incoming(device_id, body, digest, branch))
            elif family is Family.STATUS:
                assert isinstance(body, m.Status)
                self._on_status(body)
            elif family is Family.HEALTH:
                assert isinstance(body, m.Health)
                self._on_health(body)
            elif family is Family.QUERY:
                assert isinstance(body, m.SnapshotQuery)
                self._answer_query(body, msg.properties)
            elif family is Family.STAFF:
                from hub.staff import answer_staff

                assert isinstance(body, m.StaffRequest)
                answer_staff(self, body, msg.properties)
        except WireError as exc:
            self._refuse(device_id, family, msg.payload, exc)

    def _unseal(
        self, device_id: str, family: Family, payload: bytes, topic: str
    ) -> tuple[m.Body, str]:
        decoder = self._decoders.get(family)
        if decoder is None:
            raise WireError(Reason.MALFORMED, f"devices do not publish on {family.value}")
        envelope = open_envelope(payload)
        if envelope.signer != device_id:
            raise WireError(
                Reason.DEVICE_MISMATCH, f"{envelope.signer!r} signed on {device_id}'s topic"
            )
        entry = self.registry.get(device_id)
        body_bytes = verify(envelope, topic, entry.key)
        body = decoder.decode(body_bytes)
        if getattr(body, "device", device_id) != device_id:
            raise WireError(Reason.DEVICE_MISMATCH, "the body names another device")
        return body, body_digest(body_bytes)

    def _refuse(self, device_id: str, family: Family, payload: bytes, exc: WireError) -> None:
        self.counters[f"rejected.{exc.reason.name.lower()}"] += 1
        log.warning("refused %s from %s: %s", family.value, device_id, exc)
        if family is not Family.TX:
            return
        tx_id, seq = _best_effort_ids(payload)
        refused = m.TxResult(
            tx_id=tx_id,
            device=device_id,
            seq=seq,
            accepted=False,
            reason=exc.reason,
            message=str(exc)[:500],
        )
        self._publish_results([refused])

    def _publish_results(self, results: list[m.TxResult]) -> None:
        """One signed message per device per batch (at most RESULTS_PER_MESSAGE_MAX):
        one signature, and one verification on the device, for many results."""
        by_device: dict[str, list[m.TxResult]] = {}
        for result in results:
            by_device.setdefault(result.device, []).append(result)
        step = m.RESULTS_PER_MESSAGE_MAX
        for device, mine in by_device.items():
            for start in range(0, len(mine), step):
                body = m.TxResults(device=device, results=mine[start : start + step])
                self._publish(device_topic(device, Family.RESULT), body, qos=1)

    def _publish(
        self, topic: str, body: m.Body, qos: int, retain: bool = False, properties: Any = None
    ) -> None:
        payload = seal(self.hub.secrets.hub_key, HUB_SIGNER, topic, body)
        self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    # --- presence, health, snapshots ---------------------------------------------

    def _on_status(self, status: m.Status) -> None:
        with self.hub.writer.begin() as conn:
            conn.execute(
                db.devices.update()
                .where(db.devices.c.id == status.device, db.devices.c.status_ms <= status.at_ms)
                .values(
                    online=status.online,
                    status_ms=status.at_ms,
                    last_seen_ms=sa.func.max(db.devices.c.last_seen_ms, status.at_ms)
                    if self.hub.engine.dialect.name == "sqlite"
                    else sa.func.greatest(db.devices.c.last_seen_ms, status.at_ms),
                )
            )

    def _on_health(self, health: m.Health) -> None:
        now_ms = self.hub.clock.now_ms()
        health_json = msgspec.json.encode(health).decode()
        with self.hub.writer.begin() as conn:
            conn.execute(
                db.devices.update()
                .where(db.devices.c.id == health.device)
                .values(
                    last_seen_ms=now_ms,
                    health=health_json,
                    software_version=health.software_version,
                    rules_version=health.rules_version,
                    denylist_version=health.denylist_version,
                )
            )
            seq_max = conn.execute(
                sa.select(db.devices.c.seq_max).where(db.devices.c.id == health.device)
            ).scalar()
            record_health(conn, health.device, health.at_ms or now_ms, health_json)
        self._ask_resend_if_behind(health, int(seq_max or 0))

    def _ask_resend_if_behind(self, health: m.Health, seq_max: int) -> None:
        """After a restore from an older backup the hub lacks intents the device was
        already answered for (and marked done): ask for everything after what we have.
        What was never lost is answered again from stored results, at no cost."""
        missing = health.seq_last - seq_max - health.outbox_depth
        if missing <= 0:
            return
        now = time.monotonic()
        if now - self._resend_asked.get(health.device, -RESEND_ASK_S) < RESEND_ASK_S:
            return
        self._resend_asked[health.device] = now
        log.warning(
            "device %s is at seq %d, the ledger at %d: asking it to resend",
            health.device,
            health.seq_last,
            seq_max,
        )
        reason = f"the hub holds this device's intents up to {seq_max}"
        body = m.Resend(device=health.device, from_seq=seq_max + 1, reason=reason)
        self._publish(device_topic(health.device, Family.CONTROL), body, qos=1)

    def _answer_query(self, query: m.SnapshotQuery, properties: Any) -> None:
        reply_topic = device_topic(query.device, Family.REPLY)
        asked = getattr(properties, "ResponseTopic", None)
        if asked not in (None, reply_topic):
            raise WireError(Reason.DEVICE_MISMATCH, f"replies go to {reply_topic} only")
        with self.hub.engine.connect() as conn:
            rules_version = self.hub.rules.latest_version()
            rules = self.hub.rules.get(rules_version) if rules_version else None
            snapshot = admin.card_snapshot(conn, query.card_id, rules)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        correlation = getattr(properties, "CorrelationData", None)
        if correlation is not None:
            props.CorrelationData = correlation
        self._publish(reply_topic, snapshot, qos=1, properties=props)

    def _flush_counters(self) -> None:
        """Add what was counted since the last flush to the `counters` table, so that
        rejections by reason survive restarts and every worker's counts add up."""
        now = time.monotonic()
        if now - self._counters_flushed_at < COUNTERS_FLUSH_S:
            return
        self._counters_flushed_at = now
        totals = self.counters + self.hub.ledger.counters
        deltas = {k: v - self._counters_flushed.get(k, 0) for k, v in totals.items()}
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        with self.hub.writer.begin() as conn:
            for name in sorted(deltas):
                updated = conn.execute(
                    db.counters.update()
                    .where(db.counters.c.name == name)
                    .values(value=db.counters.c.value + deltas[name])
                ).rowcount
                if not updated:
                    conn.execute(db.counters.insert().values(name=name, value=deltas[name]))
        self._counters_flushed = Counter(totals)

    def _maintain_daily(self) -> None:
        """Tier review, termination and expiry once a day (idempotent, see maintenance)."""
        from hub.maintenance import run_maintenance

        today = clock_today(self.hub.clock)
        if self._maintained_on == today or not self.hub.rules.latest_version():
            return
        with self.hub.writer.begin() as conn:
            report = run_maintenance(conn, self.hub.rules.latest(), today)
        self._maintained_on = today
        log.info(
            "maintenance: %d downgraded, %d terminated, %d cards expired",
            len(report.downgraded),
            len(report.terminated),
            len(report.expired_cards),
        )

    # --- retained configuration ------------------------------------------------------

    def _publish_config_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._last_config_check < CONFIG_CHECK_S or not self.connected.is_set():
            return
        self._last_config_check = now
        now_ms = self.hub.clock.now_ms()
        version = self.hub.rules.latest_version()
        if version and self._published.get(RULES_TOPIC) != version:
            rules = self.hub.rules.get(version)
            assert rules is not None
            doc = m.RulesDoc(version=version, published_ms=now_ms, rules=rules)
            self._publish(RULES_TOPIC, doc, qos=1, retain=True)
            self._published[RULES_TOPIC] = version
            log.info("published rule set %d", version)
        with self.hub.engine.connect() as conn:
            deny_version, cards = admin.denylist_cards(conn)
        if self._published.get(DENYLIST_TOPIC) != deny_version:
            deny = m.DenyList(version=deny_version, published_ms=now_ms, cards=cards)
            self._publish(DENYLIST_TOPIC, deny, qos=1, retain=True)
            self._published[DENYLIST_TOPIC] = deny_version
            log.info("published deny list %d (%d cards)", deny_version, len(cards))


def _best_effort_ids(payload: bytes) -> tuple[Any, int]:
    """The transaction id and seq of an intent that failed checks, when they can be read,
    so the device can match the rejection to its outbox entry."""
    import uuid

    try:
        outer = _loose_decoder.decode(payload)
        inner = _loose_decoder.decode(str(outer.get("body", "")).encode())
        tx_id = uuid.UUID(str(inner["tx_id"]))
        seq = inner.get("seq")
        return tx_id, seq if isinstance(seq, int) and 0 <= seq <= 2**62 else 0
    except (msgspec.DecodeError, KeyError, ValueError, TypeError, AttributeError):
        return uuid.UUID(_NIL), 0


__all__ = ["HubService", "__version__", "rejection"]
