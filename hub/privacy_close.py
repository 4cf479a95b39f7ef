"""Closing an account anonymises the person (PIPL art. 47): the name becomes a label,
the phone, address, ID number, birthday, contacts, tags and the addresses and texts of
the notices sent are wiped; the member row, its accounts, transfers and legs stay, so
the ledger still balances and `tapcard hub verify` stays clean.

Stored value is refused: a member who still holds money is refunded first (`tapcard
hub member leave --refund cash`, hub/stored_value.py), so no yuan belong to a person
nobody can name. Points and growth are forfeited with the membership. Card accounts
of the person (members.person_id) go the same way. Audited, with no personal data.
The member's open request to close (hub/portal_close.py) is marked done and the member
told, to the address captured before the wipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, portal_close
from hub.admin.audit import audit
from hub.admin.members import require_member
from hub.stored_value import end_membership, member_cents, unclaimed_of
from tapcard.domain.model import MemberStatus
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError

LABEL = "已注销会员 #{id}"  # the anonymous label kept: "closed member #id"
# Audit rows whose detail held a person's data (phone at registration, old and new
# values of an edit): their detail is replaced, the row (who, what, when) stays.
PERSONAL_AUDIT = ("member.add", "member.edit", "member.import")


@dataclass(frozen=True, slots=True)
class Closed:
    member_id: int
    rows: tuple[int, ...]  # the member and its card accounts
    cards: tuple[str, ...]  # cards terminated now
    notices: int  # notices wiped


def closable(conn: Connection, member_id: int) -> tuple[int, ...]:
    """The member rows to anonymise; refused while money is held for the person."""
    row = require_member(conn, member_id)
    if row.person_id is not None:
        raise ConflictError(f"member {member_id} is a card account: close member {row.person_id}")
    if row.state == MemberStatus.MERGED.value:
        raise ConflictError(f"member {member_id} was merged: close the member it went into")
    holders = conn.execute(sa.select(db.members.c.id).where(db.members.c.person_id == member_id))
    ids = (member_id, *sorted(int(i) for i in holders.scalars()))
    for one in ids:
        if member_cents(conn, one) != 0:
            raise ConflictError(
                f"member {one} holds stored value: refund it first (`tapcard hub member leave "
                f"{one} --refund cash`)"
            )
        if unclaimed_of(conn, one) > 0:
            raise ConflictError(f"member {one} has unclaimed stored value: settle it first")
    return ids


def close_account(
    conn: Connection, member_id: int, rules: RuleSet, actor: str, reason: str
) -> Closed:
    ids = closable(conn, member_id)
    told = portal_close.before_close(conn, member_id)  # the addresses, before they go
    cards: list[str] = []
    m = db.members
    for one in ids:
        if require_member(conn, one).state == MemberStatus.ACTIVE.value:
            cards += end_membership(conn, one, actor, reason, rules).cards
        conn.execute(
            m.update()
            .where(m.c.id == one)
            .values(
                name=LABEL.format(id=member_id),
                phone="",
                address="",
                birthday=None,
                id_number_masked="",
                id_number_hash="",
                id_number_key=None,
                phone_key=None,
                phone_index=None,
                name_index=None,
                state=MemberStatus.TERMINATED.value,
            )
        )
    notices = _wipe_related(conn, ids)
    portal_close.after_close(conn, member_id, actor, told)  # the member's request: done
    audit(
        conn,
        actor,
        "member.anonymise",
        str(member_id),
        {"reason": reason, "rows": list(ids), "cards": cards, "notices": notices},
    )
    return Closed(member_id, ids, tuple(cards), notices)


def _wipe_related(conn: Connection, ids: tuple[int, ...]) -> int:
    """The person's data held beside the member row; returns the notices wiped."""
    conn.execute(db.member_contacts.delete().where(db.member_contacts.c.member_id.in_(ids)))
    conn.execute(db.member_tags.delete().where(db.member_tags.c.member_id.in_(ids)))
    conn.execute(db.segment_members.delete().where(db.segment_members.c.member_id.in_(ids)))
    n = db.notices
    wiped = conn.execute(
        n.update()
        .where(n.c.member_id.in_(ids))
        .values(address="", subject="", body="", data="{}", last_error="")
    ).rowcount
    a = db.audit
    targets = [str(i) for i in ids]
    conn.execute(
        a.update()
        .where(a.c.target.in_(targets), a.c.action.in_(PERSONAL_AUDIT))
        .values(detail='{"anonymised": true}')
    )
    return int(wiped)
