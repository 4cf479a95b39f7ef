"""The member portal's login codes carry the address that asked and the wrong tries
made against them, so sending is limited per address and a code by its tries
(hub/portal_login.py).

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_codes") as batch:
        batch.add_column(sa.Column("address", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("sent_ms", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("tries", sa.Integer, nullable=False, server_default="0"))
    op.create_index("portal_codes_address", "portal_codes", ["address", "sent_ms"])


def downgrade() -> None:
    op.drop_index("portal_codes_address", table_name="portal_codes")
    with op.batch_alter_table("portal_codes") as batch:
        batch.drop_column("tries")
        batch.drop_column("sent_ms")
        batch.drop_column("address")
