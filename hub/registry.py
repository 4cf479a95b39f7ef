"""Device keys and states, cached for the ingest path and refreshed on a short cycle
so that a revoked device is refused within REGISTRY_REFRESH_S; each device's presence
(retained status) and heartbeat, with a bounded heartbeat history."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from nacl.signing import VerifyKey
from sqlalchemy.engine import Connection, Engine

from hub import db
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import WireError
from tapcard.wire.keys import verify_key_from_text

REGISTRY_REFRESH_S = 2.0
UNKNOWN_RECHECK_S = 0.2  # an unknown id is looked up again at most this often
UNKNOWN_REMEMBERED_MAX = 10_000  # bound on the negative cache
HEALTH_HISTORY_PER_DEVICE_MAX = 360  # one hour of heartbeats at 10 s
# Longer without a word from a device (three heartbeats and then some) is a silence in
# which it may have been offline; shorter is one connection.
CONTACT_GAP_MS = 45_000


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    id: str
    branch_id: str
    key: VerifyKey
    revoked: bool


class DeviceRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._devices: dict[str, DeviceEntry] = {}
        self._loaded_at = 0.0
        self._unknown: dict[str, float] = {}  # id -> when it was last looked up
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    db.devices.c.id,
                    db.devices.c.branch_id,
                    db.devices.c.public_key,
                    db.devices.c.state,
                )
            ).all()
        devices = {
            row.id: DeviceEntry(
                row.id, row.branch_id, verify_key_from_text(row.public_key), row.state == "revoked"
            )
            for row in rows
        }
        with self._lock:
            self._devices = devices
            self._loaded_at = time.monotonic()

    def _lookup_one(self, device_id: str) -> DeviceEntry | None:
        """A device provisioned since the last refresh is served on its first message."""
        now = time.monotonic()
        if now - self._unknown.get(device_id, -UNKNOWN_RECHECK_S) < UNKNOWN_RECHECK_S:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    db.devices.c.branch_id, db.devices.c.public_key, db.devices.c.state
                ).where(db.devices.c.id == device_id)
            ).first()
        if row is None:
            if len(self._unknown) >= UNKNOWN_REMEMBERED_MAX:
                self._unknown.clear()
            self._unknown[device_id] = now
            return None
        entry = DeviceEntry(
            device_id, row.branch_id, verify_key_from_text(row.public_key), row.state == "revoked"
        )
        with self._lock:
            self._devices[device_id] = entry
        return entry

    def get(self, device_id: str) -> DeviceEntry:
        """The active device, or WireError(UNKNOWN_DEVICE / DEVICE_REVOKED)."""
        if time.monotonic() - self._loaded_at > REGISTRY_REFRESH_S:
            self._refresh()
        entry = self._devices.get(device_id) or self._lookup_one(device_id)
        if entry is None:
            raise WireError(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
        if entry.revoked:
            raise WireError(Reason.DEVICE_REVOKED, f"device {device_id!r} is revoked")
        return entry


def record_history(conn: Connection, rows: Sequence[tuple[str, int, str]]) -> None:
    """Append heartbeats (device, at_ms, health json) to their devices' history, keeping
    each device's newest HEALTH_HISTORY_PER_DEVICE_MAX. In the hub's heartbeat
    transaction, so the history is whole whether or not a dashboard runs."""
    if not rows:
        return
    h = db.device_health
    conn.execute(h.insert(), [{"device_id": d, "at_ms": at, "health": js} for d, at, js in rows])
    for device_id in sorted({row[0] for row in rows}):
        cutoff = conn.execute(
            sa.select(h.c.id)
            .where(h.c.device_id == device_id)
            .order_by(h.c.id.desc())
            .offset(HEALTH_HISTORY_PER_DEVICE_MAX)
            .limit(1)
        ).scalar()
        if cutoff is not None:
            conn.execute(h.delete().where(h.c.device_id == device_id, h.c.id <= cutoff))


def record_presence(
    writer: Engine, statuses: Sequence[m.Status], heartbeats: Sequence[m.Health], now_ms: int
) -> dict[str, int]:
    """The statuses and heartbeats of one ingest batch in one transaction (one commit,
    whatever their number: one each was the hub's bound at 1,000 devices), in their
    order; returns, per heartbeat's device, the highest seq the ledger holds from it.

    A status is the device's retained online/offline; an older one (a will from an
    earlier connection arriving late) never overwrites a newer one. Online is a contact
    at the hub's time; offline is not (the broker sends the will after the device went
    quiet, and the device's own time says nothing). A heartbeat is the latest health on
    the device, a contact, and a row of its history."""
    if not statuses and not heartbeats:
        return {}
    d = db.devices
    with writer.begin() as conn:
        if statuses:
            conn.execute(
                d.update()
                .where(d.c.id == sa.bindparam("b_id"), d.c.status_ms <= sa.bindparam("b_at"))
                .values(online=sa.bindparam("b_online"), status_ms=sa.bindparam("b_at")),
                [{"b_id": s.device, "b_at": s.at_ms, "b_online": s.online} for s in statuses],
            )
        encoded = [(hb, msgspec.json.encode(hb).decode()) for hb in heartbeats]
        if encoded:
            conn.execute(
                d.update()
                .where(d.c.id == sa.bindparam("b_id"))
                .values(
                    health=sa.bindparam("b_health"),
                    software_version=sa.bindparam("b_sw"),
                    rules_version=sa.bindparam("b_rules"),
                    denylist_version=sa.bindparam("b_deny"),
                ),
                [_health_row(hb, js) for hb, js in encoded],
            )
        heard = [s.device for s in statuses if s.online] + [hb.device for hb in heartbeats]
        if heard:
            note_contact(conn, heard, now_ms)
        if not heartbeats:
            return {}
        ids = sorted({hb.device for hb in heartbeats})
        seq_max = dict(conn.execute(sa.select(d.c.id, d.c.seq_max).where(d.c.id.in_(ids))).all())
        record_history(conn, [(hb.device, hb.at_ms or now_ms, js) for hb, js in encoded])
    return {device: int(seq_max.get(device) or 0) for device in ids}


def _health_row(health: m.Health, health_json: str) -> dict[str, object]:
    return {
        "b_id": health.device,
        "b_health": health_json,
        "b_sw": health.software_version,
        "b_rules": health.rules_version,
        "b_deny": health.denylist_version,
    }


def record_status(writer: Engine, status: m.Status, now_ms: int) -> None:
    """One status alone (record_presence)."""
    record_presence(writer, [status], [], now_ms)


def note_contact(conn: Connection, device_ids: Sequence[str], now_ms: int) -> None:
    """The hub heard from these devices now (its own clock). After a silence longer than
    CONTACT_GAP_MS, the contact before it is where the device may have gone offline:
    an offline intent dated before that (less tapcard.domain.authority.CLOCK_SKEW_MS) is
    moved to it and flagged (hub/ledger_time.py)."""
    d = db.devices
    ids = sorted(set(device_ids))
    conn.execute(
        d.update()
        .where(d.c.id.in_(ids), d.c.last_seen_ms < now_ms - CONTACT_GAP_MS)
        .values(offline_from_ms=d.c.last_seen_ms)
    )
    conn.execute(
        d.update().where(d.c.id.in_(ids), d.c.last_seen_ms < now_ms).values(last_seen_ms=now_ms)
    )


def record_heartbeat(writer: Engine, health: m.Health, now_ms: int) -> int:
    """One heartbeat alone (record_presence); returns the highest seq the ledger holds
    from the device."""
    return record_presence(writer, [], [health], now_ms)[health.device]
