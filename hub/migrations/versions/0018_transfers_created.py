"""Transfers by when they happened: the reports over a period (top members, campaign
effect) read the period's transfers by this index instead of every transfer booked.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "transfers_created", "transfers", ["created_ms", "member_id", "kind"], unique=False
    )


def downgrade() -> None:
    op.drop_index("transfers_created", table_name="transfers")
