"""Alert history: each time an alert opened, when it closed, who acknowledged it and the
note they left (hub/web/alert_schema.py, hub/web/alert_store.py).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("closed_ms", sa.BigInteger(), nullable=False),
        sa.Column("acked_by", sa.String(length=64), nullable=True),
        sa.Column("acked_ms", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_history_key", "alert_history", ["key"])
    op.create_index("ix_alert_history_closed_ms", "alert_history", ["closed_ms"])


def downgrade() -> None:
    op.drop_index("ix_alert_history_closed_ms", table_name="alert_history")
    op.drop_index("ix_alert_history_key", table_name="alert_history")
    op.drop_table("alert_history")
