"""The tables of staff sessions, login challenges and failed PIN tries (migration 0006),
and failed staff card logins (migration 0014), defined here on the hub's metadata by
`hub.db` (whose module is at its size limit). The queries on them live in
hub/staff_sessions.py and hub/staff_card_tries.py (which finds its table on the
metadata by CARD_FAILURES_TABLE).

Tokens are kept as their sha256, so a copy of the database holds no usable token.
"""

from __future__ import annotations

import sqlalchemy as sa

TOKEN_SHA256_HEX_CHARS = 64
CARD_FAILURES_TABLE = "staff_card_failures"
CARD_ID_LEN_MAX = 32  # the wire's CardId


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """(staff_sessions, staff_challenges, staff_pin_failures) on `metadata`."""
    sessions = sa.Table(
        "staff_sessions",
        metadata,
        sa.Column("token_sha256", sa.String(TOKEN_SHA256_HEX_CHARS), primary_key=True),
        sa.Column("staff_id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(48), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),  # the staff member's at login
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    challenges = sa.Table(
        "staff_challenges",
        metadata,
        sa.Column("token_sha256", sa.String(TOKEN_SHA256_HEX_CHARS), primary_key=True),
        sa.Column("device_id", sa.String(48), nullable=False, index=True),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    failures = sa.Table(
        "staff_pin_failures",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False, index=True),
        sa.Column("staff_id", sa.String(32), nullable=False, index=True),
        sa.Column("device_id", sa.String(48), nullable=False, index=True),
    )
    define_card_failures(metadata)
    return sessions, challenges, failures


def define_card_failures(metadata: sa.MetaData) -> sa.Table:
    """One row per refused staff card login lately (hub/staff_card_tries.py)."""
    return sa.Table(
        CARD_FAILURES_TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False, index=True),
        sa.Column("card_id", sa.String(CARD_ID_LEN_MAX), nullable=False, index=True),
        sa.Column("device_id", sa.String(48), nullable=False, index=True),
    )
