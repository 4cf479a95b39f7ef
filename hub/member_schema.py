"""What keeps members clean (migration 0012), added to `hub.db.members` here because
hub/db.py is at its size limit: the comparable phone and ID keys behind unique
indexes, and where a merged member went.

`phone_key` is `tapcard.domain.profile.phone_key` of the phone and `id_number_key` the
ID number's keyed hash (empty ID: NULL). A merged member keeps them (its phone finds
the member it went into). They are NULL for the duplicates an older database already
held: the migration keeps the key on the oldest member and leaves the others for
`tapcard hub member duplicates`; NULLs never collide in a unique index, on SQLite or
PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import card_account_schema

PHONE_KEY_CHARS = 32
ID_NUMBER_KEY_CHARS = 64


def define(members: sa.Table) -> None:
    members.append_column(sa.Column("phone_key", sa.String(PHONE_KEY_CHARS), nullable=True))
    members.append_column(sa.Column("id_number_key", sa.String(ID_NUMBER_KEY_CHARS), nullable=True))
    members.append_column(sa.Column("merged_into", sa.Integer, nullable=True))
    sa.Index("members_phone_key", members.c.phone_key, unique=True)
    sa.Index("members_id_number_key", members.c.id_number_key, unique=True)
    card_account_schema.define(members)  # person_id, program (migration 0015)
