"""Transaction ids: UUIDv7 (RFC 9562), time-ordered.

Devices make them; the hub stores them as primary keys. Random (v4) ids land all over
the ledger's B-trees, so every insert touches a cold page; time-ordered ids land at the
right edge, which keeps ingest fast as the journal grows. 74 random bits keep them
unguessable and collision-free across the chain's devices.
"""

from __future__ import annotations

import secrets
import uuid

_VERSION_7 = 0x7
_VARIANT_RFC = 0b10


def new_tx_id(unix_ms: int) -> uuid.UUID:
    """A UUIDv7 whose time part is `unix_ms`, so ids sort by when they were made."""
    assert 0 <= unix_ms < 1 << 48
    rand_a = secrets.randbits(12)
    rand_b = secrets.randbits(62)
    value = (unix_ms << 80) | (_VERSION_7 << 76) | (rand_a << 64) | (_VARIANT_RFC << 62) | rand_b
    tx_id = uuid.UUID(int=value)
    assert tx_id.version == _VERSION_7
    return tx_id
