"""The hub's transport as a router: each message a device sends is opened and checked
here, then handed to its handler (intents to the ledger, status and heartbeats to the
registry, snapshot queries, staff requests). Handlers return what to publish
(`Outgoing`); the service publishes it after the batch, before the acknowledgements.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import msgspec

from hub import bays, staff
from hub.admin.snapshot import answer_query
from hub.app import Hub
from hub.dead_letters import Aside, set_aside
from hub.ledger import Incoming, body_digest
from hub.member_qr_query import answer_qr_query
from hub.metrics import Metrics, rejected_counter
from hub.registry import DeviceRegistry, record_presence
from tapcard.mqtt import REPLY_FAMILY, Event
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import (
    JSON_DEPTH_MAX,
    BodyDecoder,
    WireError,
    json_depth,
    open_envelope,
    verify,
)
from tapcard.wire.topics import Family, device_topic, parse_device_topic

log = logging.getLogger(__name__)

RESEND_ASK_S: Final = 30.0  # ask one device to resend at most this often
_NIL: Final = uuid.UUID("00000000-0000-0000-0000-000000000000")

# An intent checked on paho's thread: (body, digest), or why it was refused.
Checked: TypeAlias = tuple[m.Body, str] | WireError


class _Outer(msgspec.Struct, forbid_unknown_fields=True):
    """The envelope, strictly: its decoder stops at the first nested value."""

    v: int = 0
    signer: str = ""
    body: str = ""
    sig: str = ""


class _Ids(msgspec.Struct):
    """The ids of an intent that failed its checks, when it has them."""

    tx_id: uuid.UUID = _NIL
    seq: int = 0


_outer_decoder = msgspec.json.Decoder(_Outer)
_ids_decoder = msgspec.json.Decoder(_Ids)


class SignedButUnreadable(WireError):
    """A message whose signature checked but whose body its schema refuses."""

    def __init__(self, reason: Reason, message: str, digest: str) -> None:
        super().__init__(reason, message)
        self.digest = digest


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message the hub publishes, signed with the hub key (always QoS 1)."""

    topic: str
    body: m.Body
    retain: bool = False
    correlation: bytes | None = None  # the request's, echoed on its reply


@dataclass(slots=True)
class Gathered:
    """What a batch's messages leave for after the loop, each kind written at once:
    statuses and heartbeats in one registry transaction, then the intents in one ledger
    transaction (the order they had when each heartbeat was its own transaction)."""

    intents: list[Incoming] = field(default_factory=list)
    statuses: list[m.Status] = field(default_factory=list)
    heartbeats: list[m.Health] = field(default_factory=list)


class Router:
    def __init__(self, hub: Hub, registry: DeviceRegistry, metrics: Metrics) -> None:
        self.hub = hub
        self.registry = registry
        self.metrics = metrics
        self._resend_asked: dict[str, float] = {}  # device -> when we last asked
        self._decoders: dict[Family, BodyDecoder[Any]] = {
            Family.TX: BodyDecoder(m.TxIntent),
            Family.STATUS: BodyDecoder(m.Status),
            Family.HEALTH: BodyDecoder(m.Health),
            Family.QUERY: BodyDecoder(m.SnapshotQuery),
            Family.STAFF: BodyDecoder(sm.StaffRequest),
        }

    def precheck(self, topic: str, payload: bytes) -> Checked | None:
        """Verify intents on paho's thread: PyNaCl releases the GIL, so signature checks
        run on the other core while the worker applies the previous batch."""
        parsed = parse_device_topic(topic)
        if parsed is None or parsed[1] is not Family.TX or not payload:
            return None
        try:
            return self._unseal(parsed[0], Family.TX, payload, topic)
        except WireError as exc:
            return exc

    def route_batch(self, batch: list[Event[Checked]]) -> list[Outgoing]:
        """What to publish for a batch of messages: replies in their order, then the
        answers to the batch's heartbeats, then the results of its intents: statuses and
        heartbeats written in one registry transaction, intents applied in one ledger
        transaction."""
        gathered = Gathered()
        outgoing: list[Outgoing] = []
        for event in batch:
            outgoing += self.route(event, gathered)
        if gathered.statuses or gathered.heartbeats:
            outgoing += self._record_presence(gathered.statuses, gathered.heartbeats)
        if gathered.intents:
            results = self.hub.ledger.apply_batch(gathered.intents)
            outgoing += results_messages(results)
            # A paired kiosk's wash: the hub starts the bay itself (hub/bays.py).
            outgoing += [
                Outgoing(t, b) for t, b in bays.starts(self.hub, gathered.intents, results)
            ]
        return outgoing

    def route(self, event: Event[Checked], gathered: Gathered) -> list[Outgoing]:
        """Hand one message to its handler; intents, statuses and heartbeats are gathered
        into `gathered` for route_batch to write together."""
        parsed = parse_device_topic(event.topic)
        if parsed is None:  # a filter's `+` matched a level that is no device id
            self.metrics.counts["ignored.topic"] += 1
            log.warning(
                "ignored %d bytes on %r: not a device topic", len(event.payload), event.topic
            )
            return []
        device_id, family = parsed
        if not event.payload and family is Family.STATUS and not event.dropped_bytes:
            return []  # a cleared retained status
        try:
            if event.dropped_bytes:
                size = f"{event.dropped_bytes} bytes > {m.PAYLOAD_BYTES_MAX}"
                raise WireError(Reason.OVERSIZE, f"payload of {size}, not kept")
            if isinstance(event.note, WireError):
                raise event.note
            body, digest = event.note or self._unseal(device_id, family, event.payload, event.topic)
            return self._handle(body, digest, event, gathered)
        except WireError as exc:
            return self._refuse(device_id, family, event.payload, exc)

    def _handle(
        self, body: m.Body, digest: str, event: Event[Checked], gathered: Gathered
    ) -> list[Outgoing]:
        """Each family's decoder gives its one body type: dispatch on it."""
        if isinstance(body, m.TxIntent):
            branch = self.registry.get(body.device).branch_id
            gathered.intents.append(Incoming(body.device, body, digest, branch))
            return []
        if isinstance(body, m.Status):
            gathered.statuses.append(body)
            return []
        if isinstance(body, m.Health):
            gathered.heartbeats.append(body)
            return []
        if isinstance(body, m.SnapshotQuery):
            return self._on_query(body, event)
        assert isinstance(body, sm.StaffRequest)
        return self._on_staff(body, event)

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
        try:
            body = decoder.decode(body_bytes)
        except WireError as exc:
            raise SignedButUnreadable(exc.reason, str(exc), body_digest(body_bytes)) from None
        if getattr(body, "device", device_id) != device_id:
            raise WireError(Reason.DEVICE_MISMATCH, "the body names another device")
        return body, body_digest(body_bytes)

    def _refuse(
        self, device_id: str, family: Family, payload: bytes, exc: WireError
    ) -> list[Outgoing]:
        self.metrics.counts[rejected_counter(exc.reason)] += 1
        log.warning("refused %s from %s: %s", family.value, device_id, exc)
        if family is not Family.TX:
            return []
        unanswerable = self._unanswerable(device_id)
        if unanswerable is not None:
            # Anyone may publish on any device's topic: answering a stranger would
            # make the hub sign whatever a stranger asks it to, where it asks.
            self.metrics.counts[f"unanswered.{unanswerable.name.lower()}"] += 1
            return []
        tx_id, seq = _best_effort_ids(payload)
        if isinstance(exc, SignedButUnreadable):
            # Signed by the device itself: resending cannot help, so it is set aside.
            why = f"its body is refused: {exc}"
            aside = set_aside(self.hub, Aside(device_id, tx_id, seq, exc.digest, why))
            if aside is not None:
                return results_messages([aside])
        refused = m.TxResult(
            tx_id=tx_id,
            device=device_id,
            seq=seq,
            accepted=False,
            reason=exc.reason,
            message=str(exc)[:500],
        )
        return results_messages([refused])

    def _unanswerable(self, device_id: str) -> Reason | None:
        """Why nothing is sent back to this device (not registered, revoked), or None."""
        try:
            self.registry.get(device_id)
        except WireError as exc:
            return exc.reason
        return None

    # --- handlers: each returns what to publish -------------------------------------

    def _record_presence(
        self, statuses: list[m.Status], heartbeats: list[m.Health]
    ) -> list[Outgoing]:
        """Statuses and heartbeats in one transaction; a heartbeat may ask for a resend."""
        now_ms = self.hub.clock.now_ms()
        seq_max = record_presence(self.hub.writer, statuses, heartbeats, now_ms)
        self.metrics.counts["presence.batches"] += 1
        self.metrics.counts["presence.heartbeats"] += len(heartbeats)
        outgoing: list[Outgoing] = []
        for health in heartbeats:
            outgoing += self._resend_if_behind(health, seq_max[health.device])
        return outgoing

    def _resend_if_behind(self, health: m.Health, seq_max: int) -> list[Outgoing]:
        """After a restore from an older backup the hub lacks intents the device was
        already answered for (and marked done): ask for everything after what we have.
        What was never lost is answered again from stored results, at no cost."""
        missing = health.seq_last - seq_max - health.outbox_depth
        if missing <= 0:
            return []
        now = time.monotonic()
        if now - self._resend_asked.get(health.device, -RESEND_ASK_S) < RESEND_ASK_S:
            return []
        self._resend_asked[health.device] = now
        log.warning(
            "device %s is at seq %d, the ledger at %d: asking it to resend",
            health.device,
            health.seq_last,
            seq_max,
        )
        reason = f"the hub holds this device's intents up to {seq_max}"
        body = m.Resend(device=health.device, from_seq=seq_max + 1, reason=reason)
        return [Outgoing(device_topic(health.device, Family.CONTROL), body)]

    def _on_query(self, query: m.SnapshotQuery, event: Event[Checked]) -> list[Outgoing]:
        reply_topic = _reply_topic(query.device, Family.QUERY, event)
        rules_version = self.hub.rules.latest_version()
        rules = self.hub.rules.get(rules_version) if rules_version else None
        if query.qr:  # a kiosk's scanned member code in place of a tap
            snapshot = answer_qr_query(self.hub, query, rules)
        else:
            snapshot = answer_query(self.hub.engine, self.hub.writer, query, rules)
        return [Outgoing(reply_topic, snapshot, correlation=event.correlation)]

    def _on_staff(self, request: sm.StaffRequest, event: Event[Checked]) -> list[Outgoing]:
        reply_topic = _reply_topic(request.device, Family.STAFF, event)
        branch = self.registry.get(request.device).branch_id
        reply = staff.answer(self.hub, request, branch)
        return [Outgoing(reply_topic, reply, correlation=event.correlation)]


def results_messages(results: list[m.TxResult]) -> list[Outgoing]:
    """One signed message per device per batch (at most RESULTS_PER_MESSAGE_MAX): one
    signature, and one verification on the device, for many results."""
    by_device: dict[str, list[m.TxResult]] = {}
    for result in results:
        by_device.setdefault(result.device, []).append(result)
    step = m.RESULTS_PER_MESSAGE_MAX
    outgoing = []
    for device, mine in by_device.items():
        for start in range(0, len(mine), step):
            body = m.TxResults(device=device, results=mine[start : start + step])
            outgoing.append(Outgoing(device_topic(device, Family.RESULT), body))
    return outgoing


def _reply_topic(device_id: str, family: Family, event: Event[Checked]) -> str:
    """Where a request is answered: its family's reply topic, and only there."""
    reply_topic = device_topic(device_id, REPLY_FAMILY[family])
    if event.response_topic not in (None, reply_topic):
        raise WireError(Reason.DEVICE_MISMATCH, f"replies go to {reply_topic} only")
    return reply_topic


def _best_effort_ids(payload: bytes) -> tuple[uuid.UUID, int]:
    """The transaction id and seq of an intent that failed checks, when they can be read,
    so the device can match the rejection to its outbox entry. Typed decoders build
    nothing but the two ids, and nothing nested deeper than the limit is decoded."""
    try:
        body = _outer_decoder.decode(payload).body.encode()
        if json_depth(body) > JSON_DEPTH_MAX:
            return _NIL, 0
        ids = _ids_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return _NIL, 0
    return ids.tx_id, ids.seq if 0 <= ids.seq <= 2**62 else 0
