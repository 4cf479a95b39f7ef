"""`tapcard hub serve`: MQTT ingest into the ledger, device presence, snapshots, config.

paho's network thread only queues messages (bounded, `tapcard.mqtt`); one worker thread
decides at its own pace, in batches: the router verifies and hands each message to its
handler, the intents are applied in one database transaction, what the handlers return
is published, and only then are the messages acknowledged (manual acks), so a hub killed
at any moment loses nothing: the broker redelivers what was not acknowledged, devices
resend what has no result, and the ledger answers duplicates from its stored results.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Final

import sqlalchemy as sa
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.app import Hub
from hub.config import BrokerAddress
from hub.dead_letters import Aside, set_aside
from hub.duties import CONFIG_CHECK_S, ConfigFeed, DailyMaintenance
from hub.ledger import rejection
from hub.metrics import Metrics
from hub.registry import DeviceRegistry
from hub.router import Checked, Outgoing, Router, results_messages
from tapcard import __version__
from tapcard.mqtt import Event, EventKind, Identity, MqttClient, Session
from tapcard.sdnotify import Watchdog
from tapcard.wire.envelope import HUB_SIGNER
from tapcard.wire.messages import PAYLOAD_BYTES_MAX, TxIntent
from tapcard.wire.topics import Family, device_filter, parse_device_topic, shared_filter

log = logging.getLogger(__name__)

QUEUE_POLL_S: Final = 0.5  # an idle worker still runs its duties this often
BATCH_WAIT_MS: Final = 4  # after the first message, gather more for this long
BATCH_MESSAGES_MAX: Final = 500
SESSION_EXPIRY_S: Final = 7 * 24 * 3600  # the broker keeps our queue while we restart
# A worker in a shared group keeps its session only briefly: the broker goes on handing
# a dead member its share of the intents until the session expires. Devices resend what
# gets no result, so a short expiry loses nothing; a long one stalls that share.
SHARED_SESSION_EXPIRY_S: Final = 120
DB_RETRY_S_MAX: Final = 5.0
DB_RETRY_S_MIN: Final = 0.2
# A message whose handling raised this often on its own, while the database answered
# each time, is poison: acknowledged, counted and logged once, never retried again
# (the broker would redeliver it forever and stop all ingest behind it). More than
# one try, so that a moment's lock (SQLite's "database is locked") poisons nothing.
POISON_ATTEMPTS_MAX: Final = 3
RECONNECT_DELAY_S_MAX: Final = 5
WORKER_JOIN_S: Final = 10.0
assert SHARED_SESSION_EXPIRY_S < SESSION_EXPIRY_S
assert QUEUE_POLL_S <= CONFIG_CHECK_S  # config changes are not held up by an idle poll
assert 0 < DB_RETRY_S_MIN <= DB_RETRY_S_MAX
assert POISON_ATTEMPTS_MAX >= 2
# The families this worker takes work from (shared with the other workers if `shared`).
WORK_FAMILIES: Final = (Family.TX, Family.HEALTH, Family.QUERY, Family.STAFF)


class HubService:
    def __init__(self, hub: Hub, broker: BrokerAddress, worker: str = "1", shared: bool = False):
        self.hub = hub
        self.broker = broker
        self.shared = shared
        self.client_id = f"tapcard-hub-{worker}"
        self.registry = DeviceRegistry(hub.engine)
        self.metrics = Metrics(hub.writer, hub.ledger.counters)
        self.router = Router(hub, self.registry, self.metrics)
        self.config = ConfigFeed(hub, broker)  # reads its retained config back
        self.maintenance = DailyMaintenance(hub)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="hub-ingest", daemon=True)
        self.watchdog = Watchdog()  # pinged by the worker loop: a stall stops the pings
        wrap = shared_filter if shared else device_filter
        self._work_filters = tuple(wrap(f) for f in WORK_FAMILIES)
        session = Session(
            client_id=self.client_id,
            host=broker.host,
            port=broker.port,
            session_expiry_s=SHARED_SESSION_EXPIRY_S if shared else SESSION_EXPIRY_S,
            subscriptions=(
                *((f, 1) for f in self._work_filters),
                (device_filter(Family.STATUS), 1),  # retained: never through $share
            ),
            queued=frozenset({EventKind.CONNECTED, EventKind.MESSAGE}),
            reconnect_delay_s_max=RECONNECT_DELAY_S_MAX,
            manual_ack=True,
            payload_bytes_max=PAYLOAD_BYTES_MAX,  # bigger ones are refused unread
        )
        identity = Identity(HUB_SIGNER, hub.secrets.hub_key)
        self.client = MqttClient[Checked](session, identity, precheck=self.router.precheck)
        if broker.username:  # the embedded broker: only the hub may write retained config
            self.client.paho.username_pw_set(broker.username, broker.password)
        self.connected = self.client.connected
        self.disconnected = self.client.disconnected
        self.subscribed = self.client.subscribed

    @property
    def counters(self) -> Counter[str]:
        """What the ingest path counted since start (rejections by reason)."""
        return self.metrics.counts

    # --- lifecycle ----------------------------------------------------------------

    def configure_tls(self, ca: str, cert: str, key: str) -> None:
        """TLS to the broker with the hub's client certificate (before `start`)."""
        self.client.tls_set(ca, cert, key)
        self.config.use_tls(ca, cert, key)

    def start(self) -> None:
        self.client.start()
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=WORKER_JOIN_S)
        self.metrics.flush()
        if self.shared:
            # Leave the group at once: a stopped member would keep getting its share.
            # Unsubscribe and wait for the broker to confirm it, then end the session
            # (expiry 0): either alone has been seen to leave the member in the group.
            self.client.unsubscribe(self._work_filters)
        self.client.stop(end_session=self.shared)

    def wait_connected(self, timeout_s: float) -> bool:
        """Connected and subscribed: from now on the hub hears what devices send."""
        deadline = time.monotonic() + timeout_s
        if not self.connected.wait(timeout_s):
            return False
        return self.subscribed.wait(max(0.0, deadline - time.monotonic()))

    # --- the worker ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.watchdog.ping()
            batch = self.client.take(QUEUE_POLL_S, BATCH_MESSAGES_MAX, BATCH_WAIT_MS / 1000)
            if batch:
                self._process_guarded(batch)
            try:
                self._duties()
            except Exception:
                # The database or broker is away: the duties run again next cycle.
                log.exception("hub duties failed; trying again next cycle")

    def _process_guarded(self, batch: list[Event[Checked]]) -> None:
        """Process a batch; if it fails, each of its messages alone, so that one message
        that cannot be handled holds up neither the others nor what comes after."""
        try:
            self._process(batch)
            return
        except Exception as exc:
            log.warning("a batch of %d failed (%s); one message at a time", len(batch), exc)
        for event in batch:
            self._process_alone(event)

    def _process_alone(self, event: Event[Checked]) -> None:
        """Retry while the database is away (messages stay unacknowledged, so the broker
        redelivers them if we die meanwhile); poison after POISON_ATTEMPTS_MAX failures
        with the database up."""
        delay_s = DB_RETRY_S_MIN
        failures = 0
        while not self._stop.is_set():
            try:
                self._process([event])
                return
            except Exception as exc:
                if not self._database_answers():
                    log.warning("hub worker still failing: %s", exc)
                else:  # the message is the problem, maybe: said once, when it is sure
                    failures += 1
                    if failures >= POISON_ATTEMPTS_MAX:
                        self._poison(event, exc)
                        return
            self.watchdog.ping()  # alive and retrying, not stalled
            self._stop.wait(delay_s)
            delay_s = min(DB_RETRY_S_MAX, delay_s * 2)

    def _database_answers(self) -> bool:
        try:
            with self.hub.writer.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    def _poison(self, event: Event[Checked], exc: Exception) -> None:
        parsed = parse_device_topic(event.topic)
        family = parsed[1].value if parsed else "other"
        self.metrics.counts[f"poison.{family}"] += 1
        log.error(
            "poison message on %s (%d bytes) acknowledged and dropped after %d tries",
            event.topic,
            len(event.payload),
            POISON_ATTEMPTS_MAX,
            exc_info=exc,
        )
        for outgoing in self._set_aside(event):
            self._send(outgoing)
        self.client.ack(event)

    def _set_aside(self, event: Event[Checked]) -> list[Outgoing]:
        """A poisoned signed intent is answered SET_ASIDE and its seq recorded as used
        (hub/dead_letters.py), so the device stops sending it; other messages get
        nothing (a query or staff request is simply not answered)."""
        if not isinstance(event.note, tuple):
            return []
        intent, digest = event.note
        if not isinstance(intent, TxIntent):
            return []
        why = f"the hub failed on it {POISON_ATTEMPTS_MAX} times (poison)"
        aside = Aside(
            intent.device,
            intent.tx_id,
            intent.seq,
            digest,
            why,
            intent.rules_version,
            intent.card_id,
        )
        result = set_aside(self.hub, aside)
        return results_messages([result]) if result is not None else []

    def _process(self, batch: list[Event[Checked]]) -> None:
        if any(e.kind is EventKind.CONNECTED for e in batch):
            self.config.forget()  # republish retained config after a broker restart
        messages = [e for e in batch if e.kind is EventKind.MESSAGE]
        for outgoing in self.router.route_batch(messages):
            self._send(outgoing)
        for event in messages:
            self.client.ack(event)

    def _duties(self) -> None:
        if self.connected.is_set():
            for outgoing in self.config.due():
                self._send(outgoing)
                self.config.published(outgoing)
        self.maintenance.due()
        self.metrics.flush_due()

    def _send(self, outgoing: Outgoing) -> None:
        props = None
        if outgoing.correlation is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho's Properties has no types
            props.CorrelationData = outgoing.correlation
        self.client.publish(
            outgoing.topic, outgoing.body, qos=1, retain=outgoing.retain, properties=props
        )


__all__ = ["HubService", "__version__", "rejection"]
