"""The HTTP keys of gates and bays (migration 0021), defined on the hub's metadata by
`hub.voucher_schema.define` (hub/db.py is at its size limit). The queries live in
hub/gates_http.py.

One key per device: `key_id` is the public half a request names, `key_hash` the
SHA-256 of the secret half (32 random bytes, so a plain digest is enough: nothing to
guess). Rotating replaces the row's key; revoking stamps `revoked_ms`.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

KEY_ID_CHARS: Final = 16  # 8 random bytes, hex
KEY_HASH_CHARS: Final = 64  # SHA-256, hex
DEVICE_ID_CHARS: Final = 48


def define(metadata: sa.MetaData) -> sa.Table:
    """gate_http_keys on `metadata`."""
    return sa.Table(
        "gate_http_keys",
        metadata,
        sa.Column(
            "device_id", sa.String(DEVICE_ID_CHARS), sa.ForeignKey("devices.id"), primary_key=True
        ),
        sa.Column("key_id", sa.String(KEY_ID_CHARS), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(KEY_HASH_CHARS), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
    )
