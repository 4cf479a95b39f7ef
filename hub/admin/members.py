"""Members: registration, search, the profile HQ sees and its history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from hub import db
from hub.admin.audit import audit
from hub.admin.duplicates import existing_member, keys_of
from hub.point_buckets import member_buckets
from hub.privacy_keys import indexes, name_index, phone_index
from tapcard.domain import profile
from tapcard.domain.expiry import next_expiry
from tapcard.domain.ledger import member_account
from tapcard.domain.model import Asset, MemberStatus, mask_id_number, mask_phone
from tapcard.domain.rules import RuleSet
from tapcard.errors import NotFoundError, ValidationError

SEARCH_RESULTS_MAX = 100
HISTORY_ROWS = 50


@dataclass(frozen=True, slots=True)
class NewMember:
    name: str
    phone: str
    id_number: str = ""
    address: str = ""
    birthday: dt.date | None = None
    tags: tuple[str, ...] = ()
    branch_id: str | None = None


def validate_new_member(member: NewMember, today: dt.date | None = None) -> list[str]:
    errors = [
        profile.name_error(member.name),
        profile.phone_error(member.phone),
        profile.id_number_error(member.id_number),
        profile.address_error(member.address),
        profile.birthday_error(member.birthday, today) if today else "",
    ]
    if any(not 1 <= len(tag) <= 48 for tag in member.tags):
        errors.append("tags are 1-48 characters")
    return [error for error in errors if error]


def add_member(
    conn: Connection,
    member: NewMember,
    rules: RuleSet,
    id_number_hash: str,
    actor: str,
    today: dt.date | None = None,
) -> int:
    today = today or db.today_at(conn)
    errors = validate_new_member(member, today)
    if errors:
        raise ValidationError("; ".join(errors))
    id_hash = id_number_hash if member.id_number.strip() else ""
    existing_member(conn, member.phone, id_hash)  # the same person: no second discount
    phone_key, id_number_key = keys_of(member.phone, id_hash)
    inserted = conn.execute(
        db.members.insert().values(
            name=member.name.strip(),
            phone=member.phone.strip(),
            id_number_masked=mask_id_number(member.id_number) if id_hash else "",
            id_number_hash=id_hash,
            phone_key=phone_key,
            id_number_key=id_number_key,
            address=member.address,
            birthday=member.birthday,
            branch_id=member.branch_id,
            tier=rules.tiers[0].name,
            joined_on=today,
            period_start=today,
            period_growth=0,
            last_activity_on=today,
            state=MemberStatus.ACTIVE.value,
            **indexes(member.name.strip(), member.phone.strip()),
        )
    ).inserted_primary_key
    assert inserted is not None
    member_id = int(inserted[0])
    for asset in Asset:
        conn.execute(
            db.accounts.insert().values(
                code=member_account(member_id, asset),
                asset=asset.value,
                member_id=member_id,
                balance=0,
            )
        )
    for tag in sorted(set(member.tags)):
        conn.execute(db.member_tags.insert().values(member_id=member_id, tag=tag))
    audit(conn, actor, "member.add", str(member_id), {"phone": mask_phone(member.phone)})
    return int(member_id)


def search_members(conn: Connection, text: str) -> list[dict[str, Any]]:
    """By phone, full name, card number or tag, each exact (the phone and name are
    sealed: their blind indexes match the whole value only, hub/privacy_keys.py). People
    only: a card account's holder row (members.person_id, hub/admin/card_accounts.py)
    is not a member of its own; its card number finds the person."""
    m = db.members
    query = (
        sa.select(m.c.id, m.c.name, m.c.phone, m.c.tier, m.c.state)
        .where(search_condition(text))
        .order_by(m.c.id)
        .limit(SEARCH_RESULTS_MAX)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def search_condition(text: str) -> sa.ColumnElement[bool]:
    """The members `search_members` finds, as a condition on db.members (for a caller
    that pages and counts them: the dashboard's member list)."""
    text = text.strip()
    if not text:
        raise ValidationError("give a phone, name, card number or tag to search for")
    m, holder, found = db.members, db.members.alias("holder"), db.members.alias("found")
    by_card = sa.select(db.cards.c.member_id).where(db.cards.c.id == text)
    card_person = sa.select(holder.c.person_id).where(holder.c.id.in_(by_card))
    by_tag = sa.select(db.member_tags.c.member_id).where(db.member_tags.c.tag == text)
    # One UNION of ids, each part on its own index: an OR of them scanned the table.
    ids = sa.union(
        sa.select(found.c.id).where(found.c.phone_index == phone_index(text)),
        sa.select(found.c.id).where(found.c.name_index == name_index(text)),
        by_card,
        card_person,
        by_tag,
    )
    return sa.and_(m.c.person_id.is_(None), m.c.id.in_(ids))


def require_member(conn: Connection, member_id: int) -> Row[Any]:
    """The member's row; an id no column can hold is as unknown as a free one."""
    row = None
    if 1 <= member_id <= db.INT_MAX:
        row = conn.execute(sa.select(db.members).where(db.members.c.id == member_id)).first()
    if row is None:
        raise NotFoundError(f"member {member_id} does not exist")
    return row


def member_view(conn: Connection, member_id: int) -> dict[str, Any]:
    row = require_member(conn, member_id)
    view = dict(row._mapping)
    for secret in ("id_number_hash", "id_number_key"):
        view.pop(secret)
    view["tags"] = sorted(
        conn.execute(
            sa.select(db.member_tags.c.tag).where(db.member_tags.c.member_id == member_id)
        ).scalars()
    )
    balances = conn.execute(
        sa.select(db.accounts.c.asset, db.accounts.c.balance).where(
            db.accounts.c.member_id == member_id
        )
    )
    view["balances"] = {asset: int(balance) for asset, balance in balances}
    # The next points to expire, as the member's card shows them (hub/point_buckets.py).
    view["points_expiring"], view["points_expire_on"] = next_expiry(
        view["balances"].get(Asset.POINTS.value, 0),
        member_buckets(conn, member_id),
        db.today_at(conn),
    )
    cards = conn.execute(sa.select(db.cards).where(db.cards.c.member_id == member_id))
    view["cards"] = [dict(card._mapping) for card in cards]
    return view


def member_history(
    conn: Connection, member_id: int, limit: int = HISTORY_ROWS
) -> list[dict[str, Any]]:
    t = db.transfers
    query = (
        sa.select(t.c.tx_id, t.c.kind, t.c.card_id, t.c.device_id, t.c.applied_ms, t.c.detail)
        .where(t.c.member_id == member_id)
        .order_by(t.c.applied_ms.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
