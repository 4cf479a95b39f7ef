"""Members kept clean: profile changes, one member per phone and ID number, merges.

Adds the comparable phone key and ID key behind unique indexes, and `merged_into`.
An older database may already hold the same phone or ID twice: the oldest member gets
the key, the others keep NULL (which never collides) and are listed by
`tapcard hub member duplicates` for HQ to merge, so the upgrade never fails on them.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from tapcard.domain.profile import phone_key

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH_ROWS = 5_000


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("phone_key", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("id_number_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
    _fill_keys()
    op.create_index("members_phone_key", "members", ["phone_key"], unique=True)
    op.create_index("members_id_number_key", "members", ["id_number_key"], unique=True)


def _fill_keys() -> None:
    conn = op.get_bind()
    members = sa.table(
        "members",
        sa.column("id", sa.Integer),
        sa.column("phone", sa.String),
        sa.column("id_number_hash", sa.String),
        sa.column("phone_key", sa.String),
        sa.column("id_number_key", sa.String),
    )
    phones: set[str] = set()
    ids: set[str] = set()
    updates: list[dict[str, object]] = []
    rows = conn.execute(
        sa.select(members.c.id, members.c.phone, members.c.id_number_hash).order_by(members.c.id)
    )
    for member_id, phone, id_hash in rows.all():
        key = phone_key(phone)[:32]
        updates.append(
            {
                "b_id": member_id,
                "b_phone": None if key in phones else key,
                "b_idkey": None if not id_hash or id_hash in ids else id_hash,
            }
        )
        phones.add(key)
        if id_hash:
            ids.add(id_hash)
    statement = (
        members.update()
        .where(members.c.id == sa.bindparam("b_id"))
        .values(phone_key=sa.bindparam("b_phone"), id_number_key=sa.bindparam("b_idkey"))
    )
    for start in range(0, len(updates), BATCH_ROWS):
        conn.execute(statement, updates[start : start + BATCH_ROWS])


def downgrade() -> None:
    op.drop_index("members_id_number_key", table_name="members")
    op.drop_index("members_phone_key", table_name="members")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("merged_into")
        batch.drop_column("id_number_key")
        batch.drop_column("phone_key")
