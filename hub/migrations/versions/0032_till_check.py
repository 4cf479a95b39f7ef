"""The hub's check of each closed shift's cash (hub/till.py): the cash the hub booked
for the device between the shift's open and close, in and out, as it stood when the
shift was reported. NULL on shifts reported before the check.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("till_shifts") as batch:
        batch.add_column(sa.Column("hub_cash_in_cents", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("hub_cash_out_cents", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("till_shifts") as batch:
        batch.drop_column("hub_cash_out_cents")
        batch.drop_column("hub_cash_in_cents")
