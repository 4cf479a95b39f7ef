"""Staff sessions, one-time login challenges and failed PIN tries (hub/staff_sessions.py).

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_staff_sessions_device_id", "staff_sessions", ["device_id"])
    op.create_table(
        "staff_challenges",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_staff_challenges_device_id", "staff_challenges", ["device_id"])
    op.create_table(
        "staff_pin_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("at_ms", "staff_id", "device_id"):
        op.create_index(f"ix_staff_pin_failures_{column}", "staff_pin_failures", [column])


def downgrade() -> None:
    op.drop_table("staff_pin_failures")
    op.drop_table("staff_challenges")
    op.drop_table("staff_sessions")
