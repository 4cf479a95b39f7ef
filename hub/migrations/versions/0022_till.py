"""The till's shifts and the daily close (hub/till_schema.py).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

CLEARING = ("s:clearing_bank_card", "s:clearing_wechat", "s:clearing_alipay")


def upgrade() -> None:
    op.create_table(
        "till_shifts",
        sa.Column("shift_id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(48), nullable=False),
        sa.Column("branch_id", sa.String(48), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("closed_ms", sa.BigInteger(), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("closed_by", sa.String(64), nullable=False),
        sa.Column("float_cents", sa.BigInteger(), nullable=False),
        sa.Column("cash_in_cents", sa.BigInteger(), nullable=False),
        sa.Column("cash_out_cents", sa.BigInteger(), nullable=False),
        sa.Column("expected_cents", sa.BigInteger(), nullable=False),
        sa.Column("counted_cents", sa.BigInteger(), nullable=False),
        sa.Column("difference_cents", sa.BigInteger(), nullable=False),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
    )
    op.create_index("till_shifts_branch_day", "till_shifts", ["branch_id", "business_date"])
    op.create_table(
        "day_closes",
        sa.Column("branch_id", sa.String(48), primary_key=True),
        sa.Column("business_date", sa.Date(), primary_key=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=False),
        sa.Column("manager", sa.String(64), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
    )
    # The clearing accounts of the new tenders (bank card, WeChat Pay, Alipay): a hub
    # made before them gets them here; a fresh one from ensure_system_accounts as well.
    accounts = sa.table(
        "accounts",
        sa.column("code", sa.String),
        sa.column("asset", sa.String),
        sa.column("balance", sa.BigInteger),
    )
    conn = op.get_bind()
    have = set(conn.execute(sa.select(accounts.c.code)).scalars())
    rows = [{"code": c, "asset": "cents", "balance": 0} for c in CLEARING if c not in have]
    if rows:
        op.bulk_insert(accounts, rows)


def downgrade() -> None:
    op.drop_table("day_closes")
    op.drop_index("till_shifts_branch_day", table_name="till_shifts")
    op.drop_table("till_shifts")
