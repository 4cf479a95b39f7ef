"""One member per phone and per ID number: finding the member a phone or ID already
belongs to, and listing the duplicates an older database still holds.

The comparison is on `members.phone_key` (the phone's blind index,
`hub.privacy_keys.phone_index`: the phone itself is sealed) and `members.id_number_key`
(the ID's keyed hash), both behind unique indexes. A merged member keeps its keys, so
its phone or ID finds the member it went into.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.privacy_keys import phone_index
from tapcard.domain.model import MemberStatus, mask_name, mask_phone
from tapcard.errors import ConflictError


class DuplicateMemberError(ConflictError):
    """The phone or ID number is already a member's: that member, masked, instead."""

    def __init__(self, member_id: int, field: str, name: str, phone: str) -> None:
        self.member_id = member_id
        self.field = field  # "phone" | "id_number"
        self.name = mask_name(name)
        self.phone = mask_phone(phone)
        what = "phone" if field == "phone" else "ID number"
        super().__init__(f"this {what} is already member #{member_id} ({self.name}, {self.phone})")


def keys_of(phone: str, id_number_hash: str) -> tuple[str, str | None]:
    """(phone_key, id_number_key) as stored: no ID number is NULL, never a collision."""
    return phone_index(phone), id_number_hash or None


def existing_member(
    conn: Connection, phone: str, id_number_hash: str, exclude: int | None = None
) -> None:
    """Raise DuplicateMemberError if another member has this phone or ID number ("" is
    not compared: a profile change checks only the fields it changes)."""
    key, id_key = keys_of(phone, id_number_hash)
    m = db.members
    for field, column, value in (
        ("phone", m.c.phone_key, key),
        ("id_number", m.c.id_number_key, id_key),
    ):
        if not value:  # no phone or ID given: nothing to compare
            continue
        query = sa.select(m.c.id, m.c.merged_into).where(column == value)
        if exclude is not None:
            query = query.where(m.c.id != exclude)
        row = conn.execute(query).first()
        if row is not None:  # a merged member's phone and ID are its target's now
            found = int(row.merged_into or row.id)
            person = conn.execute(sa.select(m.c.name, m.c.phone).where(m.c.id == found)).one()
            raise DuplicateMemberError(found, field, str(person.name), str(person.phone))


def member_duplicates(conn: Connection) -> list[dict[str, Any]]:
    """Members an older database registered twice: each one the migration left without
    its key, beside the member that holds it (merge one into the other to clean up).
    Only the keyless rows are read, so this stays quick on a large member table."""
    m = db.members
    rows = conn.execute(
        sa.select(m.c.id, m.c.phone, m.c.phone_key, m.c.id_number_hash, m.c.id_number_key)
        .where(
            m.c.state != MemberStatus.MERGED.value,
            m.c.person_id.is_(None),  # a card account has the person's phone, but no key
            sa.or_(
                m.c.phone_key.is_(None),
                sa.and_(m.c.id_number_hash != "", m.c.id_number_key.is_(None)),
            ),
        )
        .order_by(m.c.id)
    ).all()
    found = []
    for row in rows:
        checks = []
        if row.phone_key is None:
            checks.append(("phone", m.c.phone_key, phone_index(row.phone)))
        if row.id_number_hash and row.id_number_key is None:
            checks.append(("id_number", m.c.id_number_key, str(row.id_number_hash)))
        for field, column, value in checks:
            same = conn.execute(sa.select(m.c.id).where(column == value)).scalar()
            if same is not None:
                found.append({"member_id": int(row.id), "field": field, "same_as": int(same)})
    return found
