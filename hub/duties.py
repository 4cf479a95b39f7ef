"""What the hub's worker does on its own clock, between batches: publish the retained
configuration (rule set, deny list) when it changed or went missing at the broker, and
run the daily maintenance.

A device that connects gets the rule set and deny list only from the broker's retained
store, so the hub reads that store back every RETAINED_CHECK_S with its own short-lived
client (`RetainedProbe`): a retained document that is missing (cleared, or a broker
restarted without its store), not the hub's, or not the version last published is
published again at once, counted and logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter
from typing import Final

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from hub import admin, db, member_qr, portal_login, privacy, products
from hub.app import Hub
from hub.config import BrokerAddress
from hub.router import Outgoing
from tapcard.clock import today as clock_today
from tapcard.domain.rules import OverrideScope, RuleSet
from tapcard.wire import messages as m
from tapcard.wire.envelope import WireError, signed_by_hub, unseal
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    PREFIX,
    PRODUCTS_TOPIC,
    RULES_SCOPED_FILTER,
    RULES_TOPIC,
    branch_rules_topic,
    device_rules_topic,
)

log = logging.getLogger(__name__)

CONFIG_CHECK_S: Final = 0.5  # rule set and deny list changes reach devices this fast
# How often the hub reads its retained config back: a device that connects in between
# may find none. One connect and two subscribes each time, on loopback or the LAN.
RETAINED_CHECK_S: Final = 15.0
PROBE_TIMEOUT_S: Final = 2.0  # the probe gives up (and checks again next time)
PROBE_LOOP_S: Final = 0.05
PROBE_KEEPALIVE_S: Final = 10
# Subscribed after the config topics: mosquitto sends a subscription's retained messages
# before it answers the next SUBSCRIBE, so this SUBACK says "all retained are here".
PROBE_BARRIER_TOPIC: Final = f"{PREFIX}/probe"
CONFIG_TOPICS: Final = (RULES_TOPIC, DENYLIST_TOPIC, PRODUCTS_TOPIC)
CONFIG_TYPES: Final[dict[str, type[m.RulesDoc] | type[m.DenyList] | type[m.ProductCatalog]]] = {
    RULES_TOPIC: m.RulesDoc,
    DENYLIST_TOPIC: m.DenyList,
    PRODUCTS_TOPIC: m.ProductCatalog,
}
assert CONFIG_CHECK_S < RETAINED_CHECK_S
assert PROBE_LOOP_S < PROBE_TIMEOUT_S < RETAINED_CHECK_S


class RetainedProbe:
    """Reads what the broker retains on the config topics, with its own client and on
    the caller's thread (paho's `loop`, no thread of its own), then disconnects."""

    def __init__(self, broker: BrokerAddress) -> None:
        self.broker = broker
        self.tls: tuple[str, str, str] | None = None

    def read(self) -> dict[str, bytes] | None:
        """topic -> retained payload (a topic with none is absent); None: no answer."""
        client = self._client()
        retained: dict[str, bytes] = {}
        barrier: list[int] = []
        done = [False]

        def on_subscribe(_c: object, _u: object, mid: int, _r: object, _p: object) -> None:
            done[0] = done[0] or mid in barrier

        client.on_connect = lambda c, _u, _f, rc, _p: _subscribe(c, rc, barrier)
        client.on_message = lambda _c, _u, msg: retained.__setitem__(msg.topic, bytes(msg.payload))
        client.on_subscribe = on_subscribe
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=PROBE_KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            log.warning("could not read the retained config back: %s", exc)
            return None
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while not done[0] and time.monotonic() < deadline:
            if client.loop(timeout=PROBE_LOOP_S) != mqtt.MQTT_ERR_SUCCESS:
                break
        client.disconnect()
        client.loop(timeout=PROBE_LOOP_S)  # sends the DISCONNECT, closes the socket
        if not done[0]:
            log.warning("the broker did not answer the retained config probe in time")
            return None
        return {topic: payload for topic, payload in retained.items() if payload}

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tapcard-hub-probe-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.tls is not None:
            client.tls_set(ca_certs=self.tls[0], certfile=self.tls[1], keyfile=self.tls[2])
        return client


def _subscribe(client: mqtt.Client, reason: ReasonCode, barrier: list[int]) -> None:
    if reason.is_failure:
        log.warning("retained config probe refused by the broker: %s", reason)
        return
    client.subscribe([(topic, 1) for topic in (*CONFIG_TOPICS, RULES_SCOPED_FILTER)])
    mid = client.subscribe(PROBE_BARRIER_TOPIC, 0)[1]
    if mid is not None:
        barrier.append(mid)


class ConfigFeed:
    """The retained rule set and deny list, published again when they change."""

    def __init__(self, hub: Hub, broker: BrokerAddress | None = None) -> None:
        self.hub = hub
        self.probe = RetainedProbe(broker) if broker is not None else None
        self.reasserted: Counter[str] = Counter()  # topic -> published again, found lost
        self._published: dict[str, int] = {}  # topic -> version
        self._checked_at = 0.0
        self._probed_at = time.monotonic()  # what the first `due` publishes is fresh
        self._hub_key_for = signed_by_hub(hub.secrets.hub_key.verify_key)

    def use_tls(self, ca: str, cert: str, key: str) -> None:
        """The probe reads with the hub's client certificate, as the hub does."""
        if self.probe is not None:
            self.probe.tls = (ca, cert, key)

    def forget(self) -> None:
        """After a (re)connect: the broker may have restarted without its retained store."""
        self._published.clear()

    def due(self) -> list[Outgoing]:
        """What changed since the last publish, checked at most every CONFIG_CHECK_S,
        and what the broker lost, read back every RETAINED_CHECK_S."""
        now = time.monotonic()
        if now - self._checked_at < CONFIG_CHECK_S:
            return []
        self._checked_at = now
        if self.probe is not None and now - self._probed_at >= RETAINED_CHECK_S:
            self._probed_at = now
            self._check_retained(self.probe)
        now_ms = self.hub.clock.now_ms()
        outgoing: list[Outgoing] = []
        outgoing += self._rules_due(now_ms)
        with self.hub.engine.connect() as conn:
            deny_version, cards = admin.denylist_cards(conn)
        if self._published.get(DENYLIST_TOPIC) != deny_version:
            deny = m.DenyList(version=deny_version, published_ms=now_ms, cards=cards)
            outgoing.append(Outgoing(DENYLIST_TOPIC, deny, retain=True))
        outgoing += self._catalog_due(now_ms)
        return outgoing

    def _rules_due(self, now_ms: int) -> list[Outgoing]:
        """The chain's rules on RULES_TOPIC, and the effective rules of each branch and
        device the newest version has an override for on theirs, when not yet published
        at that version. A scoped topic whose override has ended keeps its older copy,
        which devices pass over for the newer chain's (tapcard/device/link.py)."""
        version = self.hub.rules.latest_version()
        rules = self.hub.rules.get(version) if version else None
        if rules is None:
            return []
        outgoing = []
        for topic, branch, device in self._rules_scopes(rules):
            if self._published.get(topic) == version:
                continue
            effective = self.hub.rules.effective(version, branch, device)
            assert effective is not None
            doc = m.RulesDoc(version=version, published_ms=now_ms, rules=effective.rules)
            outgoing.append(Outgoing(topic, doc, retain=True))
        return outgoing

    def _rules_scopes(self, rules: RuleSet) -> list[tuple[str, str, str]]:
        """(topic, branch, device) of every rules document the version publishes."""
        scopes = [(RULES_TOPIC, "", "")]
        devices: dict[str, str] = {}
        if any(o.scope is OverrideScope.DEVICE for o in rules.overrides):
            with self.hub.engine.connect() as conn:
                rows = conn.execute(sa.select(db.devices.c.id, db.devices.c.branch_id))
                devices = {str(row.id): str(row.branch_id) for row in rows}
        for override in rules.overrides:
            if override.scope is OverrideScope.BRANCH:
                scopes.append((branch_rules_topic(override.id), override.id, ""))
            elif override.id in devices:
                branch = devices[override.id]
                scopes.append((device_rules_topic(override.id), branch, override.id))
        return scopes

    def _catalog_due(self, now_ms: int) -> list[Outgoing]:
        """The product catalog, when a version is newer than the one published."""
        with self.hub.engine.connect() as conn:
            version = products.version(conn)
            if not version or self._published.get(PRODUCTS_TOPIC) == version:
                return []
            found = sorted(products.load(conn).values(), key=lambda p: p.sku)
        doc = m.ProductCatalog(version=version, published_ms=now_ms, products=found)
        return [Outgoing(PRODUCTS_TOPIC, doc, retain=True)]

    def _check_retained(self, probe: RetainedProbe) -> None:
        retained = probe.read()
        if retained is None:
            return  # no answer: a reconnect republishes anyway (see forget)
        for topic in [*CONFIG_TOPICS, *(t for t in self._published if t not in CONFIG_TYPES)]:
            version = self._published.get(topic)
            if version is None:
                continue  # not published yet: `due` does it now
            problem = self._retained_problem(topic, retained.get(topic), version)
            if problem:
                self._published.pop(topic)
                self.reasserted[topic] += 1
                log.warning("retained %s %s: publishing version %d again", topic, problem, version)

    def _retained_problem(self, topic: str, payload: bytes | None, version: int) -> str:
        """Why the retained document on `topic` is not the one published, or ''."""
        if payload is None:
            return "is missing"
        body_type = CONFIG_TYPES.get(topic, m.RulesDoc)  # else a branch's or device's rules
        try:
            _, doc = unseal(payload, topic, self._hub_key_for, body_type, len(payload))
        except WireError as exc:
            return f"is not the hub's ({exc})"
        if doc.version != version:
            return f"is version {doc.version}"
        return ""

    def published(self, sent: Outgoing) -> None:
        """Remember what `due` gave once it has been handed to the broker."""
        body = sent.body
        if isinstance(body, m.RulesDoc):
            self._published[sent.topic] = body.version
            log.info("published rule set %d on %s", body.version, sent.topic)
        elif isinstance(body, m.DenyList):
            self._published[DENYLIST_TOPIC] = body.version
            log.info("published deny list %d (%d cards)", body.version, len(body.cards))
        elif isinstance(body, m.ProductCatalog):
            self._published[PRODUCTS_TOPIC] = body.version
            log.info("published catalog %d (%d products)", body.version, len(body.products))


class DailyMaintenance:
    """Tier review, termination, card expiry, points expiry and the segments' refresh
    once a day (idempotent, see maintenance, hub/expiry.py and hub/segments.py)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._done_on: dt.date | None = None

    def due(self) -> None:
        from hub.expiry import run_expiry
        from hub.maintenance import run_maintenance
        from hub.segments import refresh_all

        today = clock_today(self.hub.clock)
        if self._done_on == today or not self.hub.rules.latest_version():
            return
        with self.hub.writer.begin() as conn:
            report = run_maintenance(conn, self.hub.rules.latest(), today)
        # After card expiry above: a card that lapsed today freezes its points first.
        expired = run_expiry(self.hub.writer, self.hub.rules.latest(), today)
        # After both: a segment reads tiers, states and cards as they stand today.
        with self.hub.writer.begin() as conn:
            segments = refresh_all(conn, today)
            # A member QR past its 60 s is refused on its time alone: its nonce can go;
            # so can login codes older than the hour their limits count.
            member_qr.prune(conn, self.hub.clock.now_ms())
            portal_login.prune_codes(conn, self.hub.clock.now_ms())
            # Gate passes past the retention (PIPL; the ledger is kept): hub/privacy.py.
            privacy.prune_location(conn, self.hub.clock.now_ms())
        log.info("segments: %d refreshed, %d memberships", len(segments), sum(segments.values()))
        self._done_on = today
        log.info("expiry: %d points of %d members", expired.points, expired.members)
        log.info(
            "maintenance: %d downgraded, %d terminated, %d cards expired",
            len(report.downgraded),
            len(report.terminated),
            len(report.expired_cards),
        )
