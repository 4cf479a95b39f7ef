"""The fleet as the dashboard shows it, and the watcher that keeps it live.

A device is `online` only while the broker says so (retained status, last will) AND its
last heartbeat is recent: a device whose will never arrived (broker restarted, half-open
TCP) turns `stale` instead of staying a false `online`.

The watcher polls the devices table (cheap: one indexed scan of a few hundred rows) and
bumps a version when anything a user sees changed; server-sent event streams wait on
that version. It also keeps the current alerts (hub.web.alerts.compute over every
device), refreshed when the fleet changes or every ALERTS_REFRESH_S: every page shows
the alert count in its nav, and computing it per request cost more than the page at
1,000 devices (bench/dashboard.py). The hub records each heartbeat in the bounded
health history itself (hub.registry.record_history), so the history is whole whether or
not a dashboard runs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, reports
from hub.app import Hub
from hub.web import alert_store, alerts
from hub.web.alert_notify import AlertNotifier
from hub.web.notify_settings import SettingsNotifier
from hub.web.settings import WebSettings

log = logging.getLogger(__name__)

GAPS_REFRESH_S = 30.0  # sequence gaps scan all results: refreshed in the background
ACK_SWEEP_S = 5.0
ALERTS_REFRESH_S = 2.0  # exceptions and lockouts (no fleet change) show within this
HISTORY_LISTED_MAX = 120


def _health(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def presence(online: bool, state: str, last_seen_ms: int, now_ms: int, cfg: WebSettings) -> str:
    if state == "revoked":
        return "revoked"
    if not online:
        return "offline" if last_seen_ms else "never"
    if now_ms - last_seen_ms > cfg.stale_after_s * 1000:
        return "stale"
    return "online"


def device_view(row: Any, now_ms: int, cfg: WebSettings) -> dict[str, Any]:
    health = _health(row.health)
    seen = max(int(row.last_seen_ms), int(row.status_ms))
    state = presence(bool(row.online), row.state, int(row.last_seen_ms), now_ms, cfg)
    return {
        "id": row.id,
        "branch": row.branch_id,
        "kind": row.kind,
        "presence": state,
        # Since the hub last heard from it, by the hub's own clock (a last will's time is
        # the broker's guess, hub/registry.py): what "down since" means on the page.
        "down_since_ms": int(row.last_seen_ms) if state in ("offline", "stale") else 0,
        "has_health": bool(health),  # a device that never sent a heartbeat shows "—"
        "online": bool(row.online),
        "status_ms": int(row.status_ms),
        "last_seen_ms": seen,
        "heartbeat_ms": int(row.last_seen_ms),
        "software_version": row.software_version,
        "rules_version": int(row.rules_version),
        "denylist_version": int(row.denylist_version),
        "reader": str(health.get("reader", "")),
        "reader_detail": str(health.get("reader_detail", "")),
        "outbox_depth": int(health.get("outbox_depth", 0) or 0),
        "outbox_oldest_age_s": int(health.get("outbox_oldest_age_s", 0) or 0),
        "disk_free_bytes": int(health.get("disk_free_bytes", 0) or 0),
        "health_at_ms": int(health.get("at_ms", 0) or 0),
    }


DEVICE_COLUMNS = [
    db.devices.c.id,
    db.devices.c.branch_id,
    db.devices.c.kind,
    db.devices.c.state,
    db.devices.c.online,
    db.devices.c.status_ms,
    db.devices.c.last_seen_ms,
    db.devices.c.health,
    db.devices.c.software_version,
    db.devices.c.rules_version,
    db.devices.c.denylist_version,
]


def fleet(
    conn: Connection,
    cfg: WebSettings,
    branch: str | None = None,
    now_ms: int | None = None,
    device_id: str | None = None,
) -> list[dict[str, Any]]:
    now_ms = now_ms or db.clock_of(conn).now_ms()
    query = sa.select(*DEVICE_COLUMNS).order_by(db.devices.c.branch_id, db.devices.c.id)
    if branch is not None:
        query = query.where(db.devices.c.branch_id == branch)
    if device_id is not None:
        query = query.where(db.devices.c.id == device_id)
    return [device_view(row, now_ms, cfg) for row in conn.execute(query)]


def health_history(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    h = db.device_health
    rows = conn.execute(
        sa.select(h.c.at_ms, h.c.health)
        .where(h.c.device_id == device_id)
        .order_by(h.c.id.desc())
        .limit(HISTORY_LISTED_MAX)
    )
    return [{"at_ms": int(at), **_health(text)} for at, text in rows]


@dataclass
class FleetState:
    """What the watcher last saw; read by request handlers under the lock."""

    version: int = 0
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    found: list[alerts.Alert] | None = None  # None: to be computed on the next look
    alerts_version: int = -1  # the fleet version they were computed at
    alerts_at: float = 0.0  # monotonic time they were computed


class Watcher:
    """A thread that keeps FleetState current and the health history filled."""

    def __init__(self, hub: Hub, cfg: WebSettings, notifier: AlertNotifier | None = None) -> None:
        self.hub = hub
        self.cfg = cfg
        # The current notification settings, HQ's changes included, for each new alert.
        self.notifier: AlertNotifier = notifier or SettingsNotifier(hub, cfg)
        self.state = FleetState()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._stop = threading.Event()
        self._gaps_at = 0.0
        self._sweep_at = 0.0
        self._thread: threading.Thread | None = None
        self._life_lock = threading.Lock()
        self._users = 0  # app lifespans running (tests may open several clients)

    def start(self) -> None:
        with self._life_lock:
            self._users += 1
            if self._users > 1:
                return
            self._stop.clear()
            self.poll()
            self._thread = threading.Thread(target=self._run, name="web-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """One lifespan ended; the thread stops with the last."""
        with self._life_lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                self._halt()

    def shutdown(self) -> None:
        """Stop now, whoever still runs (ends event streams before a server stops)."""
        with self._life_lock:
            self._users = 0
            self._halt()

    def _halt(self) -> None:
        self._stop.set()
        with self.changed:
            self.changed.notify_all()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        self._thread = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait_change(self, version: int, timeout_s: float) -> int:
        with self.changed:
            if self.state.version == version and not self._stop.is_set():
                self.changed.wait(timeout_s)
            return self.state.version

    def snapshot(self) -> tuple[int, dict[str, dict[str, Any]]]:
        with self.lock:
            return self.state.version, dict(self.state.devices)

    def gaps(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.state.gaps)

    def current_alerts(self) -> list[alerts.Alert]:
        """Every active alert over all branches, as last computed (acks as of now)."""
        with self.lock:
            found, version = self.state.found, self.state.version
            if self.state.alerts_version != version:
                found = None  # the fleet changed since: its alerts too
        if found is None:
            found = self._compute_alerts(version)
        with self.hub.engine.connect() as conn:
            return alerts.with_acks(conn, found)

    def invalidate_alerts(self) -> None:
        """Something alerts depend on changed (thresholds, an ack): compute on next look."""
        with self.lock:
            self.state.found = None

    def _compute_alerts(self, version: int) -> list[alerts.Alert]:
        _, devices = self.snapshot()
        zone = alert_store.business_zone(self.hub)
        with self.hub.engine.connect() as conn:
            found = alerts.compute(conn, self.cfg, devices, self.gaps(), zone)
        with self.lock:
            self.state.found = found
            self.state.alerts_version = version
            self.state.alerts_at = time.monotonic()
        return found

    def _refresh_alerts(self) -> None:
        with self.lock:
            version = self.state.version
            fresh = (
                self.state.found is not None
                and self.state.alerts_version == version
                and time.monotonic() - self.state.alerts_at < ALERTS_REFRESH_S
            )
        if not fresh:
            self._compute_alerts(version)

    def _run(self) -> None:
        while not self._stop.wait(self.cfg.poll_interval_s):
            try:
                self._poll_devices()
                self._background()
                self._refresh_alerts()
            except Exception as exc:
                # The database may be briefly away (restart, lock): try again next tick.
                log.warning("dashboard watcher failed; retrying: %s", exc)

    def poll(self) -> None:
        """Read the devices now; the alerts are computed afresh on the next look."""
        self._poll_devices()
        self.invalidate_alerts()

    def _poll_devices(self) -> None:
        now_ms = self.hub.clock.now_ms()
        with self.hub.engine.connect() as conn:
            rows = list(conn.execute(sa.select(*DEVICE_COLUMNS)).all())
        views = {row.id: device_view(row, now_ms, self.cfg) for row in rows}
        with self.changed:
            if _visible(views) != _visible(self.state.devices):
                self.state.version += 1
                self.changed.notify_all()
            self.state.devices = views

    def _background(self) -> None:
        now = time.monotonic()
        if now - self._gaps_at >= GAPS_REFRESH_S:
            self._gaps_at = now
            with self.hub.engine.connect() as conn:
                gaps = reports.sequence_gaps(conn)
            with self.lock:
                self.state.gaps = gaps
        if now - self._sweep_at >= ACK_SWEEP_S:
            self._sweep_at = now
            alert_store.sweep(self.hub, self.cfg, self.snapshot()[1], self.gaps(), self.notifier)


def _visible(devices: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """What a user sees change; heartbeat times alone do not wake every stream."""
    keep = ("presence", "software_version", "rules_version", "denylist_version", "reader")
    more = ("outbox_depth", "disk_free_bytes", "status_ms")
    return {k: tuple(v[f] for f in (*keep, *more)) for k, v in devices.items()}
