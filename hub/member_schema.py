"""What keeps members clean (migration 0012), added to `hub.db.members` here because
hub/db.py is at its size limit: the comparable phone and ID keys behind unique
indexes, and where a merged member went.

`phone_key` is the phone's blind index (`hub.privacy_keys.phone_index`: an HMAC of
`tapcard.domain.profile.phone_key`, migration 0031) and `id_number_key` the
ID number's keyed hash (empty ID: NULL). A merged member keeps them (its phone finds
the member it went into). They are NULL for the duplicates an older database already
held: the migration keeps the key on the oldest member and leaves the others for
`tapcard hub member duplicates`; NULLs never collide in a unique index, on SQLite or
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub import card_account_schema, privacy_keys

PHONE_KEY_CHARS = 32
ID_NUMBER_KEY_CHARS = 64
INDEX_CHARS = privacy_keys.INDEX_CHARS


def define(members: sa.Table) -> None:
    members.append_column(sa.Column("phone_key", sa.String(PHONE_KEY_CHARS), nullable=True))
    members.append_column(sa.Column("id_number_key", sa.String(ID_NUMBER_KEY_CHARS), nullable=True))
    members.append_column(sa.Column("merged_into", sa.Integer, nullable=True))
    sa.Index("members_phone_key", members.c.phone_key, unique=True)
    sa.Index("members_id_number_key", members.c.id_number_key, unique=True)
    card_account_schema.define(members)  # person_id, program (migration 0015)
    privacy_columns(members)


class Sealed(sa.types.TypeDecorator[str]):
    """A person's name, phone or address: sealed on write, opened on read
    (hub/privacy_keys.py). SQLite keeps the column's declared VARCHAR (it enforces no
    length, and its members table is not rebuilt for one); PostgreSQL holds TEXT, as
    the ciphertext is longer than the value."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int, column: str) -> None:
        super().__init__(length)
        self.impl = sa.String(length).with_variant(sa.Text(), "postgresql")  # type: ignore[assignment]
        self.column = column

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else privacy_keys.seal(value, self.column)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else privacy_keys.open_value(value, self.column)


class SealedText(Sealed):
    """A longer text sealed the same way (a notice's body and its template fields):
    TEXT on both databases."""

    cache_ok = True

    def __init__(self, column: str) -> None:
        sa.types.TypeDecorator.__init__(self)
        self.impl = sa.Text()  # type: ignore[assignment]
        self.column = column


def sealed_row(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its `Sealed` columns sealed, for writers that skip the column type
    (`hub.db.bulk_insert`, the driver's executemany)."""
    out = dict(row)
    for name, value in row.items():
        kind = table.c[name].type
        if isinstance(kind, Sealed) and isinstance(value, str):
            out[name] = privacy_keys.seal(value, kind.column)
    return out


def privacy_columns(members: sa.Table) -> None:
    """Migration 0031: the blind indexes that find a member by phone or full name, and
    the log of who read whose data."""
    members.append_column(sa.Column("phone_index", sa.String(INDEX_CHARS), nullable=True))
    members.append_column(sa.Column("name_index", sa.String(INDEX_CHARS), nullable=True))
    sa.Index("members_phone_index", members.c.phone_index)
    sa.Index("members_name_index", members.c.name_index)
    access = sa.Table(
        "member_access_log",
        members.metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("member_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),  # view | show | export | ...
        sa.Column("via", sa.String(16), nullable=False),  # web | cli
    )
    sa.Index("member_access_member", access.c.member_id, access.c.at_ms)
    sa.Index("member_access_at", access.c.at_ms)
