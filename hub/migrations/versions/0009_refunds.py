"""Refunds and partial returns: the refunds and refund_lines tables, a void time on
vouchers, and the refunds system account (hub/refund_schema.py).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CODE = "s:refunds"
_accounts = sa.table(
    "accounts",
    sa.column("code", sa.String),
    sa.column("asset", sa.String),
    sa.column("balance", sa.BigInteger),
)


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("sale_tx_id", sa.String(length=36), nullable=False),
        sa.Column("sale_kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("payment", sa.String(length=16), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("points_shortfall", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tx_id"),
    )
    op.create_index("ix_refunds_sale_tx_id", "refunds", ["sale_tx_id"])
    op.create_index("ix_refunds_created_ms", "refunds", ["created_ms"])
    op.create_table(
        "refund_lines",
        sa.Column("sale_tx_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="refund_line_quantity"),
        sa.PrimaryKeyConstraint("sale_tx_id", "line_no", "tx_id"),
    )
    with op.batch_alter_table("vouchers") as batch:
        batch.add_column(sa.Column("voided_ms", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    found = conn.execute(sa.select(_accounts.c.code).where(_accounts.c.code == CODE)).first()
    if found is None:
        conn.execute(_accounts.insert().values(code=CODE, asset="cents", balance=0))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(_accounts.delete().where(_accounts.c.code == CODE, _accounts.c.balance == 0))
    with op.batch_alter_table("vouchers") as batch:
        batch.drop_column("voided_ms")
    op.drop_table("refund_lines")
    op.drop_index("ix_refunds_created_ms", table_name="refunds")
    op.drop_index("ix_refunds_sale_tx_id", table_name="refunds")
    op.drop_table("refunds")
