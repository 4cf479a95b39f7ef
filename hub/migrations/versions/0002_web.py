"""Web dashboard: users, sessions, alert acknowledgements, device health history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"]),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_web_sessions_username"), "web_sessions", ["username"], unique=False)
    op.create_table(
        "alert_acks",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("acked_by", sa.String(length=64), nullable=False),
        sa.Column("acked_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "device_health",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("health", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_device_health_device_id"), "device_health", ["device_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_health_device_id"), table_name="device_health")
    op.drop_table("device_health")
    op.drop_table("alert_acks")
    op.drop_index(op.f("ix_web_sessions_username"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_users")
