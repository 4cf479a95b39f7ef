"""Targeted campaigns: each capped campaign's budget spent so far, and every use of a
campaign by a member (hub/campaign_schema.py; issue 17).

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_budgets",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("spent_cents", sa.BigInteger, nullable=False),
        sa.Column("spent_points", sa.BigInteger, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
    )
    op.create_table(
        "campaign_uses",
        sa.Column("tx_id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.Integer, nullable=False),
        sa.Column("cost_cents", sa.BigInteger, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("campaign_uses_member", "campaign_uses", ["code", "member_id"])


def downgrade() -> None:
    op.drop_index("campaign_uses_member", table_name="campaign_uses")
    op.drop_table("campaign_uses")
    op.drop_table("campaign_budgets")
