"""Privacy (PIPL): members' name, phone and address sealed at rest with the member key
kept outside the database (hub/privacy_keys.py), their blind indexes (phone, full
name), phone_key re-keyed as the phone's blind index, and the member access log.

The rows are sealed here when the hub's keys are loaded (`tapcard hub migrate`, `hub
init`); a bare migrate without them leaves rows as they are, read as plain until
`tapcard hub privacy seal` (or the next migrate with keys) seals them.

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

from hub import privacy_seal

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_WIDE = (("name", 200), ("phone", 32), ("address", 500))


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("phone_index", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("name_index", sa.String(length=32), nullable=True))
    op.create_index("members_phone_index", "members", ["phone_index"])
    op.create_index("members_name_index", "members", ["name_index"])
    op.drop_index("ix_members_phone", table_name="members")  # an index of ciphertext
    if op.get_bind().dialect.name == "postgresql":
        for column, length in _WIDE:
            op.alter_column("members", column, type_=sa.Text(), existing_type=sa.String(length))
    op.create_table(
        "member_access_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("member_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
    )
    op.create_index("member_access_member", "member_access_log", ["member_id", "at_ms"])
    op.create_index("member_access_at", "member_access_log", ["at_ms"])
    privacy_seal.seal_rows(op.get_bind())


def downgrade() -> None:
    privacy_seal.open_rows(op.get_bind())
    op.drop_index("member_access_at", table_name="member_access_log")
    op.drop_index("member_access_member", table_name="member_access_log")
    op.drop_table("member_access_log")
    if op.get_bind().dialect.name == "postgresql":
        for column, length in _WIDE:
            op.alter_column("members", column, type_=sa.String(length), existing_type=sa.Text())
    op.create_index("ix_members_phone", "members", ["phone"])
    op.drop_index("members_name_index", table_name="members")
    op.drop_index("members_phone_index", table_name="members")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("name_index")
        batch.drop_column("phone_index")
