"""Indexes for a card's and a device's spending by day: the hub checks daily limits and
the offline caps on every batch (hub.ledger_store.load_usage).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("transfers_card_created", "transfers", ["card_id", "created_ms"])
    op.create_index("transfers_device_created", "transfers", ["device_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("transfers_device_created", table_name="transfers")
    op.drop_index("transfers_card_created", table_name="transfers")
