"""Stored value when a membership ends: refunded to a member who leaves, or held for HQ.

A membership never ends with its stored value stranded on a closed account. Wherever it
ends (a member leaving at HQ's desk, `tapcard hub member leave`; the daily job's
termination after inactivity, hub/maintenance.py) `end_membership` moves what is left
to `s:unclaimed_stored_value`, a liability HQ sees, by a transfer of kind `unclaimed`.
A member who leaves with a refund is paid out first (a `payout` transfer: member cents
to the cash paid out), so nothing is left to hold. HQ settles what is held later
(`tapcard hub stored-value settle`): a `payout` from the unclaimed account to cash.

Points are left as they are (their expiry is hub/expiry.py's). Every step is audited
and each refuses with a clear error, changing nothing, when it does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.booking import REASON_LEN_MIN, book_admin
from hub.admin.denylist import deny
from hub.admin.members import require_member
from tapcard.domain.ledger import Leg, member_account, system_account
from tapcard.domain.model import (
    CARD_STATES_FINAL,
    Asset,
    CardState,
    MemberStatus,
    Payment,
    SystemAccount,
    TxKind,
)
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, ValidationError

UNCLAIMED = system_account(SystemAccount.UNCLAIMED_STORED_VALUE)
CASH = system_account(SystemAccount.CASH)
REFUND_TENDERS = (Payment.CASH.value,)  # stored value is paid back in cash only


@dataclass(frozen=True, slots=True)
class Ended:
    """What ending a membership did: cents paid out and held, the cards it closed."""

    member_id: int
    refunded_cents: int
    unclaimed_cents: int
    cards: list[str]
    tx_ids: list[str]


def member_cents(conn: Connection, member_id: int) -> int:
    """The member's stored value now (cents)."""
    code = member_account(member_id, Asset.CENTS)
    found = conn.execute(sa.select(db.accounts.c.balance).where(db.accounts.c.code == code))
    return int(found.scalar_one_or_none() or 0)


def unclaimed_of(conn: Connection, member_id: int) -> int:
    """What the unclaimed account holds for this member: moved in, less settled."""
    t, g = db.transfers, db.legs
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(g.c.credit - g.c.debit), 0))
        .select_from(g.join(t, t.c.tx_id == g.c.tx_id))
        .where(g.c.account == UNCLAIMED, t.c.member_id == member_id)
    ).scalar_one()
    return int(total)


def leave_preview(conn: Connection, member_id: int) -> dict[str, Any]:
    """What a leave would do, for the confirmation: who, their state, the cents."""
    row = require_member(conn, member_id)
    return {
        "member_id": member_id,
        "name": row.name,
        "state": row.state,
        "stored_value_cents": member_cents(conn, member_id),
        "unclaimed_cents": unclaimed_of(conn, member_id),
    }


def leave(
    conn: Connection,
    member_id: int,
    *,
    refund: str | None,
    reason: str,
    actor: str,
    rules: RuleSet,
) -> Ended:
    """A member leaves: with `refund` ("cash") their stored value is paid out, without
    it the balance is held as unclaimed; either way the membership ends."""
    if len(reason.strip()) < REASON_LEN_MIN:
        raise ValidationError("leaving needs a reason")
    if refund is not None and refund not in REFUND_TENDERS:
        raise ValidationError("stored value is refunded in cash")
    row = _lock_member(conn, member_id)
    if row.state != MemberStatus.ACTIVE.value:
        raise ConflictError(f"member {member_id} has already left ({row.state})")
    held = member_cents(conn, member_id)
    if refund is not None and held < 0:
        raise ConflictError(
            f"member {member_id} owes {-held} cents of stored value: a refund would go below zero"
        )
    tx_ids, refunded = [], 0
    if refund is not None and held > 0:
        legs = [
            Leg(member_account(member_id, Asset.CENTS), Asset.CENTS, debit=held),
            Leg(CASH, Asset.CENTS, credit=held),
        ]
        detail = {"refund": refund, "cents": held}
        tx_ids.append(
            book_admin(
                conn, TxKind.PAYOUT, member_id, legs, actor, reason, rules=rules, detail=detail
            )
        )
        refunded = held
    ended = end_membership(conn, member_id, actor, reason, rules)
    audit(
        conn,
        actor,
        "member.leave",
        str(member_id),
        {"reason": reason, "refund": refund or "", "refunded_cents": refunded},
    )
    return Ended(member_id, refunded, ended.unclaimed_cents, ended.cards, tx_ids + ended.tx_ids)


def end_membership(
    conn: Connection, member_id: int, actor: str, reason: str, rules: RuleSet
) -> Ended:
    """Terminate the membership and its cards (refused everywhere from now on), moving
    a positive stored value to the unclaimed account. A negative one (an offline
    overdraw, already an exception for HQ) stays on the member's account."""
    held = member_cents(conn, member_id)
    tx_ids = []
    if held > 0:
        legs = [
            Leg(member_account(member_id, Asset.CENTS), Asset.CENTS, debit=held),
            Leg(UNCLAIMED, Asset.CENTS, credit=held),
        ]
        tx_ids.append(
            book_admin(
                conn,
                TxKind.UNCLAIMED,
                member_id,
                legs,
                actor,
                reason,
                rules=rules,
                detail={"cents": held},
            )
        )
    m, c = db.members, db.cards
    conn.execute(m.update().where(m.c.id == member_id).values(state=MemberStatus.TERMINATED.value))
    final = [s.value for s in CARD_STATES_FINAL]
    cards = list(
        conn.execute(sa.select(c.c.id).where(c.c.member_id == member_id, c.c.state.not_in(final)))
        .scalars()
        .all()
    )
    for card_id in cards:
        conn.execute(
            c.update()
            .where(c.c.id == card_id)
            .values(state=CardState.TERMINATED.value, state_ms=db.now_ms(conn))
        )
        deny(conn, card_id, CardState.TERMINATED.value)
    return Ended(member_id, 0, max(0, held), cards, tx_ids)


def settle(
    conn: Connection, member_id: int, *, pay: str, reason: str, actor: str, rules: RuleSet
) -> tuple[str, int]:
    """HQ pays out what the unclaimed account holds for a member; (transfer, cents)."""
    if pay not in REFUND_TENDERS:
        raise ValidationError("unclaimed stored value is paid out in cash")
    if len(reason.strip()) < REASON_LEN_MIN:
        raise ValidationError("a settlement needs a reason")
    _lock_member(conn, member_id)
    cents = unclaimed_of(conn, member_id)
    if cents <= 0:
        raise ConflictError(f"member {member_id} has no unclaimed stored value")
    legs = [Leg(UNCLAIMED, Asset.CENTS, debit=cents), Leg(CASH, Asset.CENTS, credit=cents)]
    tx_id = book_admin(
        conn,
        TxKind.PAYOUT,
        member_id,
        legs,
        actor,
        reason,
        rules=rules,
        detail={"settles": "unclaimed", "pay": pay, "cents": cents},
    )
    audit(
        conn,
        actor,
        "stored_value.settle",
        str(member_id),
        {"reason": reason, "pay": pay, "cents": cents, "tx_id": tx_id},
    )
    return tx_id, cents


def _lock_member(conn: Connection, member_id: int) -> Any:
    """The member's row, locked on PostgreSQL so two desks cannot end it twice."""
    row = require_member(conn, member_id)
    if conn.dialect.name == "postgresql":
        query = sa.select(db.members).where(db.members.c.id == member_id).with_for_update()
        row = conn.execute(query).one()
    return row
