"""The dashboard's own table for failed logins (migration 0007), defined here on the
hub's metadata by `hub.db` (whose module is at its size limit). The queries on it live
in hub/web/throttle.py.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.web import alert_schema

LOGIN_KEY_LEN_MAX = 200  # "user:" + a 64-character name, or "addr:" + an IPv6 address


def define(metadata: sa.MetaData) -> sa.Table:
    """web_login_failures on `metadata`: one row per account and per client address
    that failed to log in lately. In the database, so a lockout outlives a restart
    and holds for every dashboard worker. Also defines the alert history table
    (hub/web/alert_schema.py, migration 0016)."""
    alert_schema.define(metadata)
    return sa.Table(
        "web_login_failures",
        metadata,
        sa.Column("key", sa.String(LOGIN_KEY_LEN_MAX), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),  # in the current window
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("locked_until_ms", sa.BigInteger, nullable=False),  # 0: not locked
    )
