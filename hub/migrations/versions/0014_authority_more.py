"""The hub is the authority, the rest: staff card tries, per-device broker logins.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A device's last contact before its latest silence: where its offline window starts
    # (hub/registry.py note_contact).
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("offline_from_ms", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Failed staff card logins per card and per device (hub/staff_card_tries.py).
    op.create_table(
        "staff_card_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("card_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("at_ms", "card_id", "device_id"):
        op.create_index(f"ix_staff_card_failures_{column}", "staff_card_failures", [column])


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("offline_from_ms")
    op.drop_table("staff_card_failures")
