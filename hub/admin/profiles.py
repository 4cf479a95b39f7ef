"""A member's profile changed: one function for the terminal, the dashboard and the CLI.

Each surface hands over the fields as typed (text; None leaves a field alone, "" clears
the address, birthday or ID number). The change is checked the way registration
checks a new member, may not take another member's phone or ID number, and is audited
with the old and new values; the ID number only ever as its mask.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.duplicates import existing_member, keys_of
from hub.admin.members import require_member
from hub.privacy_keys import name_index, phone_index
from tapcard.domain import profile
from tapcard.domain.model import MemberStatus, mask_id_number, mask_name, mask_phone
from tapcard.errors import ConflictError, NotFoundError, ValidationError

FIELDS = ("name", "phone", "address", "birthday", "id_number")


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """The fields to change, as typed; None: unchanged."""

    name: str | None = None
    phone: str | None = None
    address: str | None = None
    birthday: str | None = None  # YYYY-MM-DD, "" for none
    id_number: str | None = None  # in full, "" to remove; kept only masked and hashed


def _errors(change: ProfileChange, birthday: dt.date | None, today: dt.date) -> list[str]:
    errors = [
        profile.name_error(change.name) if change.name is not None else "",
        profile.phone_error(change.phone) if change.phone is not None else "",
        profile.address_error(change.address) if change.address is not None else "",
        profile.id_number_error(change.id_number) if change.id_number is not None else "",
        profile.birthday_error(birthday, today),
    ]
    return [error for error in errors if error]


def _birthday(text: str | None) -> dt.date | None:
    try:
        return profile.parse_birthday(text or "")
    except ValueError:
        raise ValidationError("birthday is YYYY-MM-DD") from None


def edit_member(
    conn: Connection,
    member_id: int,
    change: ProfileChange,
    id_number_hash: Callable[[str], str],
    actor: str,
    branch: str | None = None,
) -> dict[str, dict[str, str]]:
    """Change a member's profile; returns {field: {"old", "new"}} as audited (the ID
    number masked). `branch`: the member must be of that branch (a terminal's)."""
    row = require_member(conn, member_id)
    if branch is not None and row.branch_id != branch:
        raise NotFoundError(f"member {member_id} is not a member of branch {branch}")
    if row.state != MemberStatus.ACTIVE:
        raise ConflictError(f"member {member_id} is {row.state}: the profile is closed")
    birthday = _birthday(change.birthday) if change.birthday is not None else row.birthday
    errors = _errors(change, birthday, db.today_at(conn))
    if errors:
        raise ValidationError("; ".join(errors))
    values: dict[str, Any] = {}
    shown: dict[str, dict[str, str]] = {}
    for field in ("name", "phone", "address"):
        new = getattr(change, field)
        if new is not None and new.strip() != row._mapping[field]:
            values[field] = new.strip()
            shown[field] = {"old": row._mapping[field], "new": new.strip()}
    if change.birthday is not None and birthday != row.birthday:
        values["birthday"] = birthday
        shown["birthday"] = {"old": _day(row.birthday), "new": _day(birthday)}
    id_hash = str(row.id_number_hash)
    if change.id_number is not None:
        id_hash = id_number_hash(change.id_number) if change.id_number.strip() else ""
        if id_hash != row.id_number_hash:
            masked = mask_id_number(change.id_number) if id_hash else ""
            values.update(id_number_hash=id_hash, id_number_masked=masked)
            shown["id_number"] = {"old": str(row.id_number_masked), "new": masked}
    if not values:
        return {}
    # Only what changes is compared and re-keyed: a duplicate an older database left
    # without its key can still have its name corrected before HQ merges it.
    new_phone = str(values.get("phone", ""))
    new_id = str(values.get("id_number_hash", ""))
    existing_member(conn, new_phone, new_id, exclude=member_id)
    phone_key, id_number_key = keys_of(new_phone, new_id)
    if "phone" in values:
        values["phone_key"] = phone_key
        values["phone_index"] = phone_index(new_phone)
    if "name" in values:
        values["name_index"] = name_index(str(values["name"]))
    if "id_number_hash" in values:
        values["id_number_key"] = id_number_key
    conn.execute(db.members.update().where(db.members.c.id == member_id).values(**values))
    audit(conn, actor, "member.edit", str(member_id), {"changes": audited(shown)})
    return shown


def audited(shown: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The change as the audit trail keeps it: name and phone masked, an address only as
    "***" (the person's data is sealed in the members row, not copied in clear here)."""
    masks: dict[str, Callable[[str], str]] = {
        "name": mask_name,
        "phone": mask_phone,
        "address": _mask_address,
    }
    return {
        field: {k: masks[field](v) for k, v in change.items()} if field in masks else change
        for field, change in shown.items()
    }


def _mask_address(text: str) -> str:
    return "***" if text else ""


def _day(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else ""
