"""What the hub's worker does on its own clock, between batches: publish the retained
configuration (rule set, deny list) when it changed, and run the daily maintenance."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Final

from hub import admin
from hub.app import Hub
from hub.router import Outgoing
from tapcard.clock import today as clock_today
from tapcard.wire import messages as m
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC

log = logging.getLogger(__name__)

CONFIG_CHECK_S: Final = 0.5  # rule set and deny list changes reach devices this fast


class ConfigFeed:
    """The retained rule set and deny list, published again when they change."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._published: dict[str, int] = {}  # topic -> version
        self._checked_at = 0.0

    def forget(self) -> None:
        """After a (re)connect: the broker may have restarted without its retained store."""
        self._published.clear()

    def due(self) -> list[Outgoing]:
        """What changed since the last publish, checked at most every CONFIG_CHECK_S."""
        now = time.monotonic()
        if now - self._checked_at < CONFIG_CHECK_S:
            return []
        self._checked_at = now
        now_ms = self.hub.clock.now_ms()
        outgoing: list[Outgoing] = []
        version = self.hub.rules.latest_version()
        if version and self._published.get(RULES_TOPIC) != version:
            rules = self.hub.rules.get(version)
            assert rules is not None
            doc = m.RulesDoc(version=version, published_ms=now_ms, rules=rules)
            outgoing.append(Outgoing(RULES_TOPIC, doc, retain=True))
        with self.hub.engine.connect() as conn:
            deny_version, cards = admin.denylist_cards(conn)
        if self._published.get(DENYLIST_TOPIC) != deny_version:
            deny = m.DenyList(version=deny_version, published_ms=now_ms, cards=cards)
            outgoing.append(Outgoing(DENYLIST_TOPIC, deny, retain=True))
        return outgoing

    def published(self, sent: Outgoing) -> None:
        """Remember what `due` gave once it has been handed to the broker."""
        body = sent.body
        if isinstance(body, m.RulesDoc):
            self._published[RULES_TOPIC] = body.version
            log.info("published rule set %d", body.version)
        elif isinstance(body, m.DenyList):
            self._published[DENYLIST_TOPIC] = body.version
            log.info("published deny list %d (%d cards)", body.version, len(body.cards))


class DailyMaintenance:
    """Tier review, termination and expiry once a day (idempotent, see maintenance)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._done_on: dt.date | None = None

    def due(self) -> None:
        from hub.maintenance import run_maintenance

        today = clock_today(self.hub.clock)
        if self._done_on == today or not self.hub.rules.latest_version():
            return
        with self.hub.writer.begin() as conn:
            report = run_maintenance(conn, self.hub.rules.latest(), today)
        self._done_on = today
        log.info(
            "maintenance: %d downgraded, %d terminated, %d cards expired",
            len(report.downgraded),
            len(report.terminated),
            len(report.expired_cards),
        )
