"""Vouchers with an expiry and a place where they count; memberships joined by spend.

The vouchers issued before this keep NULL terms: no expiry, counted anywhere, as they
were when they were issued (hub/voucher_schema.py).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vouchers") as batch:
        batch.add_column(sa.Column("expires_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("branches", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("device_kinds", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("points_back", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("expired_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("expiry_tx_id", sa.String(length=36), nullable=True))
    op.create_index("vouchers_expires_ms", "vouchers", ["expires_ms"])
    op.create_table(
        "join_by_spend",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("card_id", sa.String(length=32), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("spend_cents_min", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("settled_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_join_by_spend_state", "join_by_spend", ["state"])


def downgrade() -> None:
    op.drop_index("ix_join_by_spend_state", table_name="join_by_spend")
    op.drop_table("join_by_spend")
    op.drop_index("vouchers_expires_ms", table_name="vouchers")
    with op.batch_alter_table("vouchers") as batch:
        for column in (
            "expiry_tx_id",
            "expired_ms",
            "points_back",
            "device_kinds",
            "branches",
            "expires_ms",
        ):
            batch.drop_column(column)
