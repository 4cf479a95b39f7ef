"""member_days by member: top members groups a period's rows by member, which this
index gives in order with the figures it sums (no sort of every row of the period;
105 ms -> 30 ms over 250,000 member days in bench/dashboard.py's ledger).

Revision ID: 0026
Revises: 0025
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

COLUMNS = ["member_id", "day", "branch_id", "net_cents", "orders"]


def upgrade() -> None:
    op.create_index("member_days_by_member", "member_days", COLUMNS)


def downgrade() -> None:
    op.drop_index("member_days_by_member", table_name="member_days")
