"""Daily totals per branch and account, kept by the ledger for fast reports.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO daily_totals (day, branch_id, account, debit, credit, legs)
SELECT CAST(t.created_ms / 86400000 AS INTEGER), COALESCE(t.branch_id, ''), l.account,
       SUM(l.debit), SUM(l.credit), COUNT(*)
FROM legs l JOIN transfers t ON t.tx_id = l.tx_id
GROUP BY CAST(t.created_ms / 86400000 AS INTEGER), COALESCE(t.branch_id, ''), l.account
"""


def upgrade() -> None:
    op.create_table(
        "daily_totals",
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("debit", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("legs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "branch_id", "account"),
    )
    op.execute(sa.text(BACKFILL))


def downgrade() -> None:
    op.drop_table("daily_totals")
