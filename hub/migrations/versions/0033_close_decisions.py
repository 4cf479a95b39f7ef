"""HQ's answer to a member's request to close the account (hub/portal_close.py): who
decided and when, and the reason given when it was declined. Requests made before
have none (state `open`).

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("close_requests") as batch:
        batch.add_column(sa.Column("decided_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("decided_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("answer", sa.String(500), nullable=False, server_default=""))
    op.create_index("close_requests_member", "close_requests", ["member_id", "id"])


def downgrade() -> None:
    op.drop_index("close_requests_member", "close_requests")
    with op.batch_alter_table("close_requests") as batch:
        batch.drop_column("answer")
        batch.drop_column("decided_ms")
        batch.drop_column("decided_by")
