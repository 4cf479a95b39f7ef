"""The alert history table (migration 0016), defined on the hub's metadata through
hub/web/schema.py (hub.db is at its size limit). Queries live in hub/web/alert_store.py,
which finds the table on the metadata by HISTORY_TABLE.

One row per time an alert opened: when it opened and closed, who acknowledged it and
with what note. Bounded to the newest rows (alert_store.HISTORY_ROWS_MAX).
"""

from __future__ import annotations

import sqlalchemy as sa

HISTORY_TABLE = "alert_history"
ALERT_KEY_LEN_MAX = 128  # as alert_acks.key
NOTE_LEN_MAX = 500


def define(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        HISTORY_TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(ALERT_KEY_LEN_MAX), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("branch_id", sa.String(48), nullable=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("opened_ms", sa.BigInteger, nullable=False),
        sa.Column("closed_ms", sa.BigInteger, nullable=False, index=True),  # 0: still open
        sa.Column("acked_by", sa.String(64), nullable=True),
        sa.Column("acked_ms", sa.BigInteger, nullable=False),  # 0: not acknowledged
        sa.Column("note", sa.String(NOTE_LEN_MAX), nullable=False),
    )
