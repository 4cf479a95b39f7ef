"""Device keys and states, cached for the ingest path and refreshed on a short cycle
so that a revoked device is refused within REGISTRY_REFRESH_S; and each device's
bounded heartbeat history."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from nacl.signing import VerifyKey
from sqlalchemy.engine import Connection, Engine

from hub import db
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import WireError
from tapcard.wire.keys import verify_key_from_text

REGISTRY_REFRESH_S = 2.0
UNKNOWN_RECHECK_S = 0.2  # an unknown id is looked up again at most this often
UNKNOWN_REMEMBERED_MAX = 10_000  # bound on the negative cache
HEALTH_HISTORY_PER_DEVICE_MAX = 360  # one hour of heartbeats at 10 s


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


def record_health(conn: Connection, device_id: str, at_ms: int, health_json: str) -> None:
    """Append a heartbeat to the device's history, keeping the newest
    HEALTH_HISTORY_PER_DEVICE_MAX. In the hub's heartbeat transaction, so the history
    is whole whether or not a dashboard runs."""
    h = db.device_health
    conn.execute(h.insert().values(device_id=device_id, at_ms=at_ms, health=health_json))
    cutoff = conn.execute(
        sa.select(h.c.id)
        .where(h.c.device_id == device_id)
        .order_by(h.c.id.desc())
        .offset(HEALTH_HISTORY_PER_DEVICE_MAX)
        .limit(1)
    ).scalar()
    if cutoff is not None:
        conn.execute(h.delete().where(h.c.device_id == device_id, h.c.id <= cutoff))
