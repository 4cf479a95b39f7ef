"""Per member, day and branch: net spend and orders, kept by the ledger beside the daily
totals (hub/ledger_schema.py, hub/member_days.py) so that top members reads a few rows
per member instead of every leg of the period. Backfilled here from the journal.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The same figures as hub/member_days.py adds up per transfer: sales credited less
# discounts and refunds debited; a purchase touching them is one order.
BACKFILL = """
INSERT INTO member_days (day, branch_id, member_id, net_cents, orders)
SELECT day, branch_id, member_id, SUM(net), SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END)
FROM (
  SELECT CAST(t.created_ms / 86400000 AS INTEGER) AS day, COALESCE(t.branch_id, '') AS branch_id,
         t.member_id AS member_id, t.kind AS kind,
         SUM(l.credit - l.debit) AS net
  FROM legs l JOIN transfers t ON t.tx_id = l.tx_id
  WHERE t.member_id > 0 AND l.account IN ('s:sales', 's:discounts', 's:refunds')
  GROUP BY t.tx_id, t.created_ms, t.branch_id, t.member_id, t.kind
) per_transfer
GROUP BY day, branch_id, member_id
"""


def upgrade() -> None:
    op.create_table(
        "member_days",
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "branch_id", "member_id"),
    )
    op.execute(sa.text(BACKFILL))


def downgrade() -> None:
    op.drop_table("member_days")
