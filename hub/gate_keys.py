"""The HTTP keys of gates and bays: made when the device is registered, rotated or
revoked from the CLI (`tapcard hub device http-key`), checked by hub/gates_http.py.

A key reads `tgk_<key_id>_<secret>`: the key id finds the row, the secret is compared
by its SHA-256 (stored, hub/gate_schema.py), never kept in clear. The full key is shown
once, when it is made; a lost key is rotated, not recovered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.gates import VOUCHER_DEVICE_KINDS
from tapcard.errors import NotFoundError, ValidationError

KEY_PREFIX: Final = "tgk"
KEY_ID_BYTES: Final = 8
SECRET_BYTES: Final = 32
KEY_CHARS_MAX: Final = 128  # longer is not one of ours: refused before any lookup


def _table() -> sa.Table:
    return db.metadata.tables["gate_http_keys"]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def make_key(conn: Connection, device_id: str, actor: str) -> str:
    """A new key for gate or bay `device_id` (its old one, if any, stops working)."""
    d = db.devices
    row = conn.execute(sa.select(d.c.kind, d.c.state).where(d.c.id == device_id)).first()
    if row is None:
        raise NotFoundError(f"no device {device_id}")
    if row.kind not in VOUCHER_DEVICE_KINDS:
        raise ValidationError(f"device {device_id} is a {row.kind}: only gates and bays get keys")
    if row.state != "active":
        raise ValidationError(f"device {device_id} is {row.state}")
    key_id, secret = secrets.token_hex(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES)
    t = _table()
    values = {"key_id": key_id, "key_hash": _digest(secret), "created_ms": db.now_ms(conn)}
    updated = conn.execute(
        t.update().where(t.c.device_id == device_id).values(**values, revoked_ms=None)
    ).rowcount
    if not updated:
        conn.execute(t.insert().values(device_id=device_id, **values))
    audit(conn, actor, "gate.key_rotated" if updated else "gate.key_made", device_id,
          {"key_id": key_id})  # fmt: skip
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def revoke_key(conn: Connection, device_id: str, actor: str) -> None:
    t = _table()
    done = conn.execute(
        t.update()
        .where(t.c.device_id == device_id, t.c.revoked_ms.is_(None))
        .values(revoked_ms=db.now_ms(conn))
    ).rowcount
    if not done:
        raise NotFoundError(f"device {device_id} has no HTTP key in force")
    audit(conn, actor, "gate.key_revoked", device_id, {})


def device_of_key(conn: Connection, key: str) -> str | None:
    """The active gate or bay whose key in force `key` is, else None."""
    parts = key.strip()[:KEY_CHARS_MAX].split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    t, d = _table(), db.devices
    row = conn.execute(
        sa.select(t.c.device_id, t.c.key_hash)
        .join(d, d.c.id == t.c.device_id)
        .where(t.c.key_id == parts[1], t.c.revoked_ms.is_(None), d.c.state == "active")
    ).first()
    if row is None or not hmac.compare_digest(str(row.key_hash), _digest(parts[2])):
        return None
    return str(row.device_id)


def key_state(conn: Connection, device_id: str) -> dict[str, object] | None:
    """The key's id and dates, never its secret (None: the device never had one)."""
    t = _table()
    row = conn.execute(
        sa.select(t.c.key_id, t.c.created_ms, t.c.revoked_ms).where(t.c.device_id == device_id)
    ).first()
    return None if row is None else dict(row._mapping)
