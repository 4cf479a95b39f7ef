"""Member QR codes taken offline (hub/member_qr_offline.py): the device that took each
one, "" for the codes the hub took itself (every row before this revision).

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member_qr_nonces") as batch:
        batch.add_column(sa.Column("device_id", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("member_qr_nonces") as batch:
        batch.drop_column("device_id")
