"""Device keys and states, cached for the ingest path and refreshed on a short cycle
so that a revoked device is refused within REGISTRY_REFRESH_S."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from nacl.signing import VerifyKey
from sqlalchemy.engine import Engine

from hub import db
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import WireError
from tapcard.wire.keys import verify_key_from_text

REGISTRY_REFRESH_S = 2.0
UNKNOWN_REFRESH_S_MIN = 0.5  # an unknown id refreshes the cache at most this often


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

    def get(self, device_id: str) -> DeviceEntry:
        """The active device, or WireError(UNKNOWN_DEVICE / DEVICE_REVOKED)."""
        age = time.monotonic() - self._loaded_at
        entry = self._devices.get(device_id)
        if age > REGISTRY_REFRESH_S or (entry is None and age > UNKNOWN_REFRESH_S_MIN):
            self._refresh()
            entry = self._devices.get(device_id)
        if entry is None:
            raise WireError(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
        if entry.revoked:
            raise WireError(Reason.DEVICE_REVOKED, f"device {device_id!r} is revoked")
        return entry
