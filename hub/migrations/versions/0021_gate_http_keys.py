"""Per-gate keys of the HTTP endpoint for third-party car park systems
(hub/gate_schema.py).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_http_keys",
        sa.Column("device_id", sa.String(48), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("key_id", sa.String(16), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("gate_http_keys")
