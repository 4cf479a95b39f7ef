"""The one MQTT client of every tapcard program: the hub, the device link and the
terminal's staff channel. paho lives here and in the programs, never in the domain or
wire packages.

What it does the same way for all of them: an MQTT 5 session the broker keeps across
restarts, no Nagle delay, paho's network thread only hands events to a bounded queue
(a full queue blocks paho's thread, which is TCP backpressure), every callback wrapped
so that an exception is logged and paho goes on, bodies sealed with the owner's key,
and request/response with correlation data (MQTT 5) answered on the requester's thread.
The owner's worker takes the events at its own pace (`take`).

A session may name more than one broker node (`fallbacks`): the client stays on the node
it reached while the connection lasts, and after a lost connection or a failed attempt
tries the next node in turn (docs/operations.md, "More than one broker node at HQ").
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, ParamSpec, TypeVar

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tapcard.wire import messages as m
from tapcard.wire.envelope import seal, unseal
from tapcard.wire.topics import Family, device_topic

log = logging.getLogger(__name__)

MQTT_KEEPALIVE_S: Final = 10  # a dead peer is noticed within 1.5 keepalives
RECONNECT_DELAY_S_MIN: Final = 1
EVENT_QUEUE_LEN_MAX: Final = 20_000  # paho's thread blocks beyond this: TCP backpressure
QUEUE_PUT_RETRY_S: Final = 0.5  # a blocked paho thread looks this often whether we stop
LEAVE_WAIT_S: Final = 5.0  # for the broker's UNSUBACK, and for paho to send our DISCONNECT
# The topic each request family is answered on (the request's response topic).
REPLY_FAMILY: Final = {Family.QUERY: Family.REPLY, Family.STAFF: Family.STAFF_REPLY}
assert QUEUE_PUT_RETRY_S < LEAVE_WAIT_S

P = ParamSpec("P")
R = TypeVar("R")
NoteT = TypeVar("NoteT")
B = TypeVar("B", bound=m.Body)


def catch_log_exception(func: Callable[P, R | None]) -> Callable[P, R | None]:
    """Log an exception raised by a handler and keep the caller going."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception:
            log.exception("MQTT handler %s failed", func.__name__)
            return None

    return wrapper


class EventKind(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    MESSAGE = "message"
    PUBLISHED = "published"  # the broker answered one of our QoS 1 publishes


@dataclass(frozen=True, slots=True)
class Event(Generic[NoteT]):
    """What paho's thread hands to the owner's worker."""

    kind: EventKind
    topic: str = ""
    payload: bytes = b""
    mid: int = 0
    qos: int = 0
    response_topic: str | None = None  # MQTT 5 request/response, as the sender asked
    correlation: bytes | None = None
    failed: bool = False  # PUBLISHED: the broker refused it (reason code >= 0x80)
    note: NoteT | None = None  # the owner's `precheck` of a message, done on paho's thread
    # MESSAGE: the size of a payload over the session's `payload_bytes_max`, which was
    # dropped (`payload` is empty) so that the queue never holds it.
    dropped_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signs what the client publishes, and whose signature its replies carry."""

    signer: str
    key: SigningKey
    reply_key_for: Callable[[str], VerifyKey] | None = None  # None: sends no requests


@dataclass(frozen=True, slots=True)
class Session:
    client_id: str
    host: str
    port: int
    session_expiry_s: int
    subscriptions: tuple[tuple[str, int], ...]  # (filter, qos), made after each connect
    queued: frozenset[EventKind]  # what reaches `take`; the rest is dropped
    reconnect_delay_s_max: int
    manual_ack: bool = False  # acknowledge with `ack` only once the work is done
    requests_pending_max: int = 0  # requests waiting for their reply at once
    # Payloads over this are not queued (0: no bound). The broker may pass up to 256 MB
    # per message; EVENT_QUEUE_LEN_MAX of those would be gigabytes of memory.
    payload_bytes_max: int = 0
    # Further broker nodes (host, port), tried in turn after `host`:`port` when a
    # connection is lost or an attempt fails.
    fallbacks: tuple[tuple[str, int], ...] = ()

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return ((self.host, self.port), *self.fallbacks)


@dataclass(slots=True)
class _Pending:
    topic: str
    done: threading.Event = field(default_factory=threading.Event)
    payload: bytes | None = None


def _no_precheck(_topic: str, _payload: bytes) -> None:
    return None


class MqttClient(Generic[NoteT]):
    """One paho client with its thread, bounded event queue and request slots.

    `precheck` runs on paho's thread for each queued message (keep it cheap, or let it
    release the GIL); `will` gives the last will before each connect attempt.
    """

    def __init__(
        self,
        session: Session,
        identity: Identity,
        precheck: Callable[[str, bytes], NoteT | None] = _no_precheck,
        will: Callable[[], tuple[str, m.Body]] | None = None,
    ) -> None:
        self.session = session
        self.identity = identity
        self._precheck = catch_log_exception(precheck)
        self._will = will
        self._events: queue.Queue[Event[NoteT]] = queue.Queue(maxsize=EVENT_QUEUE_LEN_MAX)
        self._pending: dict[bytes, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._closing = threading.Event()
        self._subscribe_mid: int | None = None
        self._unsubscribed = threading.Event()
        self.connected = threading.Event()
        self.disconnected = threading.Event()  # set once paho has sent DISCONNECT
        # Set when the broker has granted the subscriptions: before that, what others
        # publish may reach nobody (a new session keeps nothing for us).
        self.subscribed = threading.Event()
        self._node = 0  # index into session.addresses: the node tried last
        self._move_on = False  # the last attempt failed or the connection was lost
        self.paho = self._make_paho()

    def _make_paho(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.session.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=self.session.manual_ack,
        )
        # paho scans its whole in-flight window on every PUBACK; unlimited skips that
        # (the owners bound what they have in flight themselves).
        client.max_inflight_messages_set(0)
        client.reconnect_delay_set(RECONNECT_DELAY_S_MIN, self.session.reconnect_delay_s_max)
        client.on_pre_connect = catch_log_exception(self._on_pre_connect)
        client.on_connect = catch_log_exception(self._on_connect)
        client.on_connect_fail = catch_log_exception(self._on_connect_fail)
        client.on_disconnect = catch_log_exception(self._on_disconnect)
        client.on_message = catch_log_exception(self._on_message)
        client.on_publish = catch_log_exception(self._on_publish)
        client.on_subscribe = catch_log_exception(self._on_subscribe)
        client.on_unsubscribe = catch_log_exception(self._on_unsubscribe)
        return client

    # --- lifecycle ----------------------------------------------------------------

    def tls_set(self, ca: str, cert: str | None, key: str | None) -> None:
        """TLS to the broker, with a client certificate when given (before `start`)."""
        self.paho.tls_set(ca_certs=ca, certfile=cert, keyfile=key)

    def login(self, username: str, password: str) -> None:
        """A broker login (before `start`): a device's own, on the embedded broker."""
        self.paho.username_pw_set(username, password)

    def start(self) -> None:
        self._on_pre_connect(self.paho, None)
        s = self.session
        connect_persistent(self.paho, s.host, s.port, MQTT_KEEPALIVE_S, s.session_expiry_s)

    def unsubscribe(self, filters: Sequence[str]) -> None:
        """Unsubscribe and wait for the broker to confirm it (at most LEAVE_WAIT_S)."""
        if not self.connected.is_set():
            return
        self._unsubscribed.clear()
        result, _mid = self.paho.unsubscribe(list(filters))
        if result == mqtt.MQTT_ERR_SUCCESS and not self._unsubscribed.wait(LEAVE_WAIT_S):
            log.warning("the broker did not confirm %s unsubscribed", self.session.client_id)

    def stop(self, end_session: bool = False) -> None:
        """Disconnect cleanly (no last will) and stop paho's thread. `end_session` asks
        the broker to drop the session at once instead of keeping it."""
        self._closing.set()
        if end_session:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]  # paho's Properties has no types
            props.SessionExpiryInterval = 0
            sent = self.paho.disconnect(properties=props)
        else:
            sent = self.paho.disconnect()
        if sent == mqtt.MQTT_ERR_SUCCESS and not self.disconnected.wait(LEAVE_WAIT_S):
            log.warning("the broker did not see %s leave", self.session.client_id)
        self.paho.loop_stop()

    # --- the owner's side ------------------------------------------------------------

    def take(self, timeout_s: float, count_max: int, gather_s: float = 0.0) -> list[Event[NoteT]]:
        """Wait at most `timeout_s` for an event, then gather more for `gather_s` (none
        waited for when 0), at most `count_max` in all."""
        try:
            events = [self._events.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + gather_s
        while len(events) < count_max:
            remaining_s = deadline - time.monotonic()
            try:
                events.append(self._events.get(timeout=max(0.0, remaining_s)))
            except queue.Empty:
                break
        return events

    def ack(self, event: Event[NoteT]) -> None:
        """Acknowledge a message taken with `manual_ack`: the broker forgets it."""
        if event.qos > 0:
            self.paho.ack(event.mid, event.qos)

    def publish(
        self,
        topic: str,
        body: m.Body,
        qos: int,
        retain: bool,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        payload = seal(self.identity.key, self.identity.signer, topic, body)
        return self.publish_sealed(topic, payload, qos, retain, properties)

    def publish_sealed(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        return self.paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def request(
        self, family: Family, body: m.Body, reply_type: type[B], timeout_s: float
    ) -> B | None:
        """The signed reply to `body` sent on this signer's `family` topic, or None when
        offline, when too many requests wait, or when no reply came within `timeout_s`.
        A reply that fails its checks raises WireError."""
        key_for = self.identity.reply_key_for
        assert key_for is not None, "this client sends no requests"
        if not self.connected.is_set():
            return None
        correlation = uuid.uuid4().bytes
        reply_topic = device_topic(self.identity.signer, REPLY_FAMILY[family])
        waiting = _Pending(reply_topic)
        with self._pending_lock:
            if len(self._pending) >= self.session.requests_pending_max:
                return None
            self._pending[correlation] = waiting
        try:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho's Properties has no types
            props.ResponseTopic = reply_topic
            props.CorrelationData = correlation
            topic = device_topic(self.identity.signer, family)
            self.publish(topic, body, qos=1, retain=False, properties=props)
            waiting.done.wait(timeout_s)
        finally:
            with self._pending_lock:
                del self._pending[correlation]
        if waiting.payload is None:
            return None
        return unseal(waiting.payload, reply_topic, key_for, reply_type)[1]

    # --- paho's thread: hand over, nothing else ---------------------------------------

    def _put(self, event: Event[NoteT]) -> None:
        if event.kind not in self.session.queued:
            return
        while True:
            try:
                self._events.put(event, timeout=QUEUE_PUT_RETRY_S)
                return
            except queue.Full:
                if self._closing.is_set():
                    return  # nobody takes it now; unacknowledged messages come again

    @property
    def node(self) -> tuple[str, int]:
        """The broker node this client is connected to, or tries next."""
        return self.session.addresses[self._node]

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        self._move_on = True

    def _next_node(self, client: mqtt.Client) -> None:
        """After a failure, the next broker node in turn (paho reconnects to its
        `_host`/`_port`; its setters refuse while a connection attempt is under way, and
        this runs at the start of one)."""
        addresses = self.session.addresses
        if not self._move_on or len(addresses) == 1:
            return
        self._move_on = False
        self._node = (self._node + 1) % len(addresses)
        client._host, client._port = addresses[self._node]
        log.warning("%s tries broker node %s:%d", self.session.client_id, *addresses[self._node])

    def _on_pre_connect(self, client: mqtt.Client, _userdata: object) -> None:
        self._next_node(client)
        if self._will is not None:
            topic, body = self._will()
            payload = seal(self.identity.key, self.identity.signer, topic, body)
            client.will_set(topic, payload, qos=1, retain=True)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._move_on = True
            log.error("broker %s refused %s: %s", self.node[0], self.session.client_id, reason)
            return
        self._move_on = False
        self.subscribed.clear()
        if self.session.subscriptions:
            _result, self._subscribe_mid = client.subscribe(list(self.session.subscriptions))
        else:
            self.subscribed.set()  # a client that only sends
        self.disconnected.clear()
        self.connected.set()
        self._put(Event(EventKind.CONNECTED))
        log.info("%s connected to %s:%d", self.session.client_id, *self.node)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused the subscriptions of %s: %s", self.session.client_id, refused)
            return
        self.subscribed.set()

    def _on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        _reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        self._unsubscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self.disconnected.set()
        self._move_on = True
        self._put(Event(EventKind.DISCONNECTED))
        if not self._closing.is_set():
            log.warning("%s lost the broker: %s; reconnecting", self.session.client_id, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        size_max = self.session.payload_bytes_max
        if size_max and len(msg.payload) > size_max:
            size = len(msg.payload)
            self._put(
                Event(EventKind.MESSAGE, msg.topic, mid=msg.mid, qos=msg.qos, dropped_bytes=size)
            )
            return
        correlation = getattr(msg.properties, "CorrelationData", None)
        payload = bytes(msg.payload)
        if correlation is not None and self._answer_request(correlation, msg.topic, payload):
            return
        self._put(
            Event(
                EventKind.MESSAGE,
                msg.topic,
                payload,
                mid=msg.mid,
                qos=msg.qos,
                response_topic=getattr(msg.properties, "ResponseTopic", None),
                correlation=correlation,
                note=self._precheck(msg.topic, payload),
            )
        )

    def _answer_request(self, correlation: bytes, topic: str, payload: bytes) -> bool:
        """Hand a reply to the request waiting for it (it checks the reply itself)."""
        with self._pending_lock:
            waiting = self._pending.get(correlation)
            if waiting is None or waiting.topic != topic or waiting.payload is not None:
                return False
            waiting.payload = payload
        waiting.done.set()
        return True

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason: ReasonCode,
        _props: Properties,
    ) -> None:
        # MQTT 5: a broker that refuses a publish says so with a reason code >= 0x80.
        self._put(Event(EventKind.PUBLISHED, mid=mid, failed=bool(reason.is_failure)))


def connect_persistent(
    client: mqtt.Client, host: str, port: int, keepalive_s: int, session_expiry_s: int
) -> None:
    """Connect in the background with a session the broker keeps across restarts.

    paho's default starts a clean session on every start; the explicit clean_start=False
    and SessionExpiryInterval keep our subscriptions and queued QoS 1 messages.
    """
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's Properties has no types
    props.SessionExpiryInterval = session_expiry_s
    client.on_socket_open = no_delay
    client.connect_async(host, port, keepalive=keepalive_s, clean_start=False, properties=props)
    client.loop_start()


def no_delay(_client: mqtt.Client, _userdata: object, sock: mqtt.SocketLike) -> None:
    """paho leaves Nagle on: a small message then waits for the delayed ACK (~40 ms)."""
    if isinstance(sock, socket.socket):  # TLS sockets are too; WebSocket wrappers not
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
