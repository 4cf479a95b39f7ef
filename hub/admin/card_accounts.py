"""Card accounts kept apart: category and co-branded cards (docs/rules.md "Card programs").

Points of different cards never combine or move between them; only a replacement
carries a card's points to the new card, for the same holder. A category or
co-branded card is therefore issued to an account holder of its own: a member row
linked to the person (`person_id`) and to the card's program (hub/card_account_schema.py).
The ledger keeps accounts per member, so the card's points, growth, tier and stored
value are its own by construction, and a replacement (hub/admin/cards.py), which keeps
the card's member, keeps them. Supplementary cards are not card accounts: they spend
the primary's accounts within their own limits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.members import require_member
from hub.privacy_keys import indexes
from tapcard.domain.ledger import member_account
from tapcard.domain.model import Asset, CardKind, MemberStatus
from tapcard.domain.programs import PROGRAM_KINDS, CardProgram
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, ValidationError


def program_of(rules: RuleSet, code: str, kind: CardKind) -> CardProgram:
    """The rule set's program of this code, for a card of this kind; else why not."""
    if kind not in PROGRAM_KINDS:
        raise ValidationError(f"a {kind.value} card belongs to no card program")
    for program in rules.card_programs:
        if program.code == code:
            if program.kind is not kind:
                raise ValidationError(f"program {code} issues {program.kind.value} cards")
            return program
    known = ", ".join(p.code for p in rules.card_programs if p.kind is kind) or "none"
    raise ValidationError(f"a {kind.value} card needs its program (the rules have: {known})")


def open_card_account(
    conn: Connection,
    person_id: int,
    kind: CardKind,
    program_code: str,
    rules: RuleSet,
    actor: str,
    today: dt.date,
) -> int:
    """The account holder a new card of this program is issued to: the person's name,
    phone, branch and joining day, the first tier, empty accounts. Returns its id."""
    program = program_of(rules, program_code, kind)
    person = require_member(conn, person_id)
    if person.person_id is not None:
        raise ConflictError(
            f"member {person_id} is a card account of member {person.person_id}: issue to that one"
        )
    if person.state != MemberStatus.ACTIVE:
        raise ConflictError(f"member {person_id} is {person.state}")
    inserted = conn.execute(
        db.members.insert().values(
            name=person.name,
            phone=person.phone,
            # Real name carries over (the stored-value limits); the unique keys do not.
            id_number_masked=person.id_number_masked,
            id_number_hash=person.id_number_hash,
            address=person.address,
            birthday=person.birthday,
            branch_id=person.branch_id,
            tier=rules.tiers[0].name,
            joined_on=person.joined_on,  # the person's: no second new-member discount
            period_start=today,
            period_growth=0,
            last_activity_on=today,
            state=MemberStatus.ACTIVE.value,
            person_id=person_id,
            program=program.code,
            **indexes(person.name, person.phone),
        )
    ).inserted_primary_key
    assert inserted is not None
    holder = int(inserted[0])
    conn.execute(
        db.accounts.insert(),
        [
            {"code": member_account(holder, a), "asset": a.value, "member_id": holder, "balance": 0}
            for a in Asset
        ],
    )
    audit(
        conn,
        actor,
        "card_account.open",
        str(holder),
        {"person": person_id, "program": program.code},
    )
    return holder


def refuse_combining(conn: Connection, *member_ids: int) -> None:
    """A card of no program (a member or supplementary card) on a card account would
    spend that account's points from a second card: refused, issue it to the person."""
    m = db.members
    rows = conn.execute(
        sa.select(m.c.id, m.c.person_id).where(m.c.id.in_(member_ids), m.c.person_id.is_not(None))
    ).all()
    if rows:
        account, person = rows[0]
        raise ConflictError(
            f"member {account} is the card account of member {person}: issue to that one"
        )


def move_card_accounts(conn: Connection, source_id: int, target_id: int) -> int:
    """A merge's people: the source's card accounts now belong to the target, each with
    its own balances untouched. Returns how many."""
    result = conn.execute(
        db.members.update().where(db.members.c.person_id == source_id).values(person_id=target_id)
    )
    return int(result.rowcount or 0)


def person_cards(conn: Connection, person_id: int) -> list[dict[str, Any]]:
    """The person's cards with the balances of the account each card uses: the member
    cards and supplementary cards share the person's, each card account has its own."""
    m, c, a = db.members, db.cards, db.accounts
    holders = sa.select(m.c.id).where(sa.or_(m.c.id == person_id, m.c.person_id == person_id))
    rows = conn.execute(
        sa.select(c.c.id, c.c.kind, c.c.state, c.c.expires_on, c.c.member_id, m.c.program)
        .join(m, m.c.id == c.c.member_id)
        .where(c.c.member_id.in_(holders))
        .order_by(c.c.member_id, c.c.id)
    ).all()
    ids = {int(r.member_id) for r in rows}
    balances: dict[tuple[int, str], int] = {}
    if ids:
        query = sa.select(a.c.member_id, a.c.asset, a.c.balance).where(a.c.member_id.in_(ids))
        balances = {(int(mid), asset): int(bal) for mid, asset, bal in conn.execute(query)}
    return [
        {
            "card_id": r.id,
            "kind": r.kind,
            "program": r.program or "",
            "state": r.state,
            "expires_on": r.expires_on.isoformat(),
            "account": int(r.member_id),
            "points": balances.get((int(r.member_id), Asset.POINTS.value), 0),
            "stored_value_cents": balances.get((int(r.member_id), Asset.CENTS.value), 0),
        }
        for r in rows
    ]
