"""Card accounts kept apart: a category or co-branded card's own account holder.

Adds members.person_id (the person whose card account this member row is) and
members.program (the card's program code); both NULL for every existing member, whose
cards keep their accounts as they are.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("program", sa.String(length=32), nullable=True))
    op.create_index("ix_members_person_id", "members", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_members_person_id", table_name="members")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("program")
        batch.drop_column("person_id")
