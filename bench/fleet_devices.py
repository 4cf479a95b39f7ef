"""Many simulated devices in one process, for bench/fleet.py.

Each device is one paho client with its own broker login, its own Ed25519 key and the
real protocol: a signed retained online status and a signed last will, a Health
heartbeat, signed intents with consecutive sequence numbers kept in an outbox until the
hub's signed result arrives (resent on every reconnect and when a result is late, as
tapcard/device/link.py does), and snapshot queries as MQTT 5 requests. All the clients
of a process share one thread and one epoll selector (paho's external-loop callbacks),
so a thousand devices need a few processes, not a thousand threads.

Reconnects back off as paho's do (1 s doubling to the link's RECONNECT_DELAY_S_MAX).
A branch uplink cut shuts the branch's sockets without an MQTT DISCONNECT, so the broker
publishes their wills; the devices keep ringing up offline until the uplink is back.

The process obeys commands from its pipe (`serve`): see `Fleet.command`.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tapcard.clock import clock_from_env
from tapcard.device.intents import SealedIntent, seal_intent
from tapcard.device.link import RECONNECT_DELAY_S_MAX, RESEND_AFTER_S, SESSION_EXPIRY_S
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tapcard.wire.envelope import WireError, seal, signed_by_hub, unseal
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC, Family, device_topic

KEEPALIVE_S = 10  # as tapcard/mqtt.py: a dead peer noticed within 1.5 keepalives
RECONNECT_DELAY_S_MIN = 1.0  # paho's default first delay
MISC_EVERY_S = 1.0  # paho's keepalive bookkeeping per client
RESEND_CHECK_S = 1.0
SELECT_TIMEOUT_S = 0.02
OUTBOX_LEN_MAX = 10_000  # the sample rules' offline outbox_len_max: then a device gives up
SOFTWARE_VERSION = "bench-fleet"
DISK_FREE_BYTES = 8 * 2**30
# The tap mix, per device kind: (op, share). Queries are snapshot requests, not intents.
MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "terminal": (("purchase", 0.6), ("topup", 0.1), ("redeem", 0.1), ("query", 0.2)),
    "kiosk": (("redeem", 0.5), ("query", 0.5)),
}
REDEEM_ITEM = "PARK-HOUR"  # 100 points a unit in the sample rules


@dataclass(frozen=True)
class DeviceSpec:
    device_id: str
    key_hex: str
    password: str
    branch: str
    kind: str  # terminal | kiosk
    cards: tuple[str, ...]


@dataclass
class Sim:
    """One device's state: its client, outbox and counters."""

    spec: DeviceSpec
    key: SigningKey
    client: mqtt.Client
    seq: int = 0
    connected: bool = False
    cut: bool = False  # its branch uplink is down: no reconnect attempts
    ever_connected: bool = False
    next_connect: float = 0.0
    delay_s: float = RECONNECT_DELAY_S_MIN
    status_ms: int = 0
    outbox: dict[uuid.UUID, SealedIntent] = field(default_factory=dict)
    sent_at: dict[uuid.UUID, float] = field(default_factory=dict)  # first publish
    last_sent: dict[uuid.UUID, float] = field(default_factory=dict)
    queries: dict[bytes, float] = field(default_factory=dict)  # correlation -> sent
    refused_taps: int = 0  # the outbox was full: the device gave up on new sales
    next_health: float = 0.0


class Fleet:
    def __init__(self, specs: list[DeviceSpec], host: str, port: int, hub_key_hex: str) -> None:
        self.host, self.port = host, port
        self.clock = clock_from_env()
        self.key_for = signed_by_hub(VerifyKey(bytes.fromhex(hub_key_hex)))
        self.selector = selectors.DefaultSelector()
        self.sims = [self._sim(spec) for spec in specs]
        self.by_id = {s.spec.device_id: s for s in self.sims}
        self.heartbeat_s = 10.0
        self.taps_per_s = 0.0  # this process's share of the aggregate rate
        self.rng = random.Random(hash(specs[0].device_id) if specs else 0)
        self.reset_window()
        self.sent_ids: list[str] = []
        self.results_total = 0
        self.results_repeated = 0
        self.bad_messages = 0
        self.resend_requests = 0

    def reset_window(self) -> None:
        """Start a new window of publish-to-result (and query) latencies."""
        self.window_start = time.perf_counter()
        self.latencies_ms: list[float] = []
        self.query_ms: list[float] = []

    def _sim(self, spec: DeviceSpec) -> Sim:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=spec.device_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(spec.device_id, spec.password)
        client.max_inflight_messages_set(0)
        sim = Sim(spec, SigningKey(bytes.fromhex(spec.key_hex)), client)
        client.user_data_set(sim)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = self._sock_open
        client.on_socket_close = self._sock_close
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._no_write
        return sim

    # --- paho's external loop ------------------------------------------------------

    def _sock_open(self, client: mqtt.Client, _sim: Sim, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, client)

    def _sock_close(self, _client: mqtt.Client, _sim: Sim, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def _want_write(self, client: mqtt.Client, _sim: Sim, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _no_write(self, client: mqtt.Client, _sim: Sim, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ, client)

    def _connect(self, sim: Sim, now: float) -> None:
        """One connect attempt; the will carries the at_ms of the online status."""
        sim.status_ms = self.clock.now_ms()
        topic = device_topic(sim.spec.device_id, Family.STATUS)
        will = m.Status(device=sim.spec.device_id, online=False, at_ms=sim.status_ms)
        sim.client.will_set(topic, seal(sim.key, sim.spec.device_id, topic, will), 1, True)
        try:
            if sim.ever_connected:
                sim.client.reconnect()
            else:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = SESSION_EXPIRY_S
                sim.client.connect(
                    self.host, self.port, KEEPALIVE_S, clean_start=True, properties=props
                )
                sim.ever_connected = True
        except OSError:
            sim.next_connect = now + sim.delay_s
            sim.delay_s = min(sim.delay_s * 2, RECONNECT_DELAY_S_MAX)
            return
        sim.next_connect = float("inf")  # until CONNACK or a disconnect says otherwise

    def _on_connect(self, client: mqtt.Client, sim: Sim, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        sim.connected, sim.delay_s = True, RECONNECT_DELAY_S_MIN
        me = sim.spec.device_id
        families = (Family.RESULT, Family.REPLY, Family.CONTROL)
        topics = [(device_topic(me, f), 1) for f in families]
        client.subscribe([*topics, (RULES_TOPIC, 1), (DENYLIST_TOPIC, 1)])
        topic = device_topic(me, Family.STATUS)
        online = m.Status(device=me, online=True, at_ms=sim.status_ms)
        client.publish(topic, seal(sim.key, me, topic, online), qos=1, retain=True)
        now = time.perf_counter()
        for tx_id in sorted(sim.outbox, key=lambda t: sim.outbox[t].seq):
            self._publish(sim, sim.outbox[tx_id], now)

    def _on_disconnect(self, _c: mqtt.Client, sim: Sim, _f: Any, _r: Any, _p: Any) -> None:
        sim.connected = False
        if not sim.cut:
            sim.next_connect = time.perf_counter() + sim.delay_s
            sim.delay_s = min(sim.delay_s * 2, RECONNECT_DELAY_S_MAX)

    def _on_message(self, _client: mqtt.Client, sim: Sim, msg: mqtt.MQTTMessage) -> None:
        family = msg.topic.rsplit("/", 1)[-1]
        if family == Family.RESULT.value:
            self._on_results(sim, bytes(msg.payload), msg.topic)
        elif family == Family.REPLY.value:
            correlation = getattr(msg.properties, "CorrelationData", None)
            sent = sim.queries.pop(bytes(correlation or b""), None)
            if sent is not None:
                self.query_ms.append((time.perf_counter() - sent) * 1000)
        elif family == Family.CONTROL.value:
            self.resend_requests += 1

    def _on_results(self, sim: Sim, payload: bytes, topic: str) -> None:
        try:
            _, batch = unseal(payload, topic, self.key_for, m.TxResults)
        except WireError:
            self.bad_messages += 1
            return
        now = time.perf_counter()
        for result in batch.results:
            if sim.outbox.pop(result.tx_id, None) is None:
                self.results_repeated += 1  # a resend answered twice (from stored results)
                continue
            self.results_total += 1
            sent = sim.sent_at.pop(result.tx_id, now)
            sim.last_sent.pop(result.tx_id, None)
            if sent >= self.window_start:
                self.latencies_ms.append((now - sent) * 1000)

    # --- what a device does --------------------------------------------------------

    def _publish(self, sim: Sim, sealed: SealedIntent, now: float) -> None:
        sim.client.publish(sealed.topic, sealed.payload, qos=1)
        sim.sent_at.setdefault(sealed.tx_id, now)
        sim.last_sent[sealed.tx_id] = now

    def _op(self, name: str) -> m.AnyOp:
        if name == "purchase":
            cents = self.rng.randrange(500, 5_000)
            return m.Purchase(lines=[SaleLine("grocery", cents)], payment=Payment.CASH)
        if name == "topup":
            return m.TopUp(amount_cents=self.rng.choice((1_000, 2_000, 5_000)))
        return m.Redeem(item=REDEEM_ITEM, units=1)

    def tap(self, sim: Sim) -> None:
        names, weights = zip(*MIX[sim.spec.kind], strict=True)
        name = self.rng.choices(names, weights)[0]
        card = self.rng.choice(sim.spec.cards)
        me = sim.spec.device_id
        if name == "query":
            if sim.connected:  # offline, a device answers from its cache
                self._query(sim, card)
            return
        if len(sim.outbox) >= OUTBOX_LEN_MAX:
            sim.refused_taps += 1
            return
        sim.seq += 1
        sealed = seal_intent(
            sim.key, me, sim.seq, card, self._op(name), 1, offline=not sim.connected
        )
        sim.outbox[sealed.tx_id] = sealed
        self.sent_ids.append(str(sealed.tx_id))
        if sim.connected:
            self._publish(sim, sealed, time.perf_counter())

    def _query(self, sim: Sim, card: str) -> None:
        me = sim.spec.device_id
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = device_topic(me, Family.REPLY)
        props.CorrelationData = correlation
        topic = device_topic(me, Family.QUERY)
        body = seal(sim.key, me, topic, m.SnapshotQuery(device=me, card_id=card))
        sim.queries[correlation] = time.perf_counter()
        sim.client.publish(topic, body, qos=1, properties=props)

    def heartbeat(self, sim: Sim) -> None:
        me, now_ms = sim.spec.device_id, self.clock.now_ms()
        oldest = min((s.intent.created_ms for s in sim.outbox.values()), default=now_ms)
        health = m.Health(
            device=me,
            at_ms=now_ms,
            software_version=SOFTWARE_VERSION,
            rules_version=1,
            outbox_depth=len(sim.outbox),
            outbox_oldest_age_s=max(0, now_ms - oldest) // 1000,
            disk_free_bytes=DISK_FREE_BYTES,
            seq_last=sim.seq,
        )
        topic = device_topic(me, Family.HEALTH)
        sim.client.publish(topic, seal(sim.key, me, topic, health), qos=1)

    def resend_late(self, now: float) -> None:
        for sim in self.sims:
            if not sim.connected:
                continue
            for tx_id, at in list(sim.last_sent.items()):
                if now - at > RESEND_AFTER_S and tx_id in sim.outbox:
                    self._publish(sim, sim.outbox[tx_id], now)

    def cut(self, branches: set[str], cut: bool) -> None:
        """Drop (or restore) the uplink of these branches: sockets shut, no DISCONNECT."""
        for sim in self.sims:
            if sim.spec.branch not in branches:
                continue
            sim.cut = cut
            sock = sim.client.socket()
            if cut and sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
            if not cut:
                sim.delay_s, sim.next_connect = RECONNECT_DELAY_S_MIN, time.perf_counter()

    # --- the loop and its commands -------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "devices": len(self.sims),
            "connected": sum(1 for s in self.sims if s.connected),
            "pending": sum(len(s.outbox) for s in self.sims),
            "pending_by_branch": _by_branch(self.sims),
            "gave_up": sum(1 for s in self.sims if s.refused_taps),
            "sent": len(self.sent_ids),
            "results": self.results_total,
            "results_repeated": self.results_repeated,
            "bad_messages": self.bad_messages,
            "resend_requests": self.resend_requests,
            "latencies_ms": self.latencies_ms,
            "query_ms": self.query_ms,
        }

    def command(self, cmd: tuple[Any, ...]) -> Any:
        """("rates", heartbeat_s, taps_per_s) | ("window",) | ("cut", branches) |
        ("restore", branches) | ("stats",) | ("sent_ids",) | ("stop",)"""
        name = cmd[0]
        if name == "rates":
            self.heartbeat_s, self.taps_per_s = float(cmd[1]), float(cmd[2])
            now = time.perf_counter()
            for sim in self.sims:
                sim.next_health = now + self.rng.uniform(0, self.heartbeat_s)
        elif name == "window":
            self.reset_window()
        elif name in ("cut", "restore"):
            self.cut(set(cmd[1]), name == "cut")
        elif name == "stats":
            return self.stats()
        elif name == "sent_ids":
            return list(self.sent_ids)
        return None

    def turn(self, now: float, taps_due: float) -> float:
        """Connects, heartbeats and taps due now; returns the taps still due."""
        for sim in self.sims:
            if not sim.connected and not sim.cut and now >= sim.next_connect:
                self._connect(sim, now)
            if sim.connected and now >= sim.next_health:
                self.heartbeat(sim)
                sim.next_health = now + self.heartbeat_s
        while taps_due >= 1.0 and self.sims:
            self.tap(self.rng.choice(self.sims))
            taps_due -= 1.0
        return taps_due

    def run(self, pipe: Connection) -> None:
        self.selector.register(pipe, selectors.EVENT_READ, None)
        taps_due, last = 0.0, time.perf_counter()
        misc_at = resend_at = last
        while True:
            for key, events in self.selector.select(SELECT_TIMEOUT_S):
                client = key.data
                if client is None:
                    cmd = pipe.recv()
                    if cmd[0] == "stop":
                        self.stop()
                        pipe.send(None)
                        return
                    pipe.send(self.command(cmd))
                    continue
                if events & selectors.EVENT_READ:
                    client.loop_read()
                if events & selectors.EVENT_WRITE:
                    client.loop_write()
            now = time.perf_counter()
            taps_due = self.turn(now, taps_due + (now - last) * self.taps_per_s)
            last = now
            if now - misc_at >= MISC_EVERY_S:
                for sim in self.sims:
                    if sim.client.socket() is not None:
                        sim.client.loop_misc()
                misc_at = now
            if now - resend_at >= RESEND_CHECK_S:
                self.resend_late(now)
                resend_at = now

    def stop(self) -> None:
        for sim in self.sims:
            if sim.connected:
                sim.client.disconnect()
                sim.client.loop_write()


def _by_branch(sims: list[Sim]) -> dict[str, int]:
    out: dict[str, int] = {}
    for sim in sims:
        if sim.outbox:
            out[sim.spec.branch] = out.get(sim.spec.branch, 0) + len(sim.outbox)
    return out


def serve(pipe: Connection) -> None:
    """A worker process's entry point: its devices, the broker and the hub's key (the
    first thing down the pipe), until ("stop",)."""
    specs, host, port, hub_key = pipe.recv()
    Fleet(specs, host, port, hub_key).run(pipe)
