"""Card lifecycle at HQ: issue, report lost, replace, renew.

A lost card is refused everywhere (deny list); a replacement keeps the member's
accounts (balances and points carry over) and revokes the old card; renewal extends
validity and reactivates the card. Fees are booked as transfers, or their waiver audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from hub import db
from hub.admin.audit import audit
from hub.admin.booking import book_admin
from hub.admin.card_accounts import open_card_account, refuse_combining
from hub.admin.denylist import deny
from hub.admin.fees import fee_legs, supplementary_fee
from hub.admin.joining import joining_fee_paid, renewal_fee_kind
from hub.admin.members import require_member
from hub.admin.settings import get_setting, set_setting
from tapcard.domain import engine as rules_engine
from tapcard.domain.model import (
    CARD_STATES_FINAL,
    CardKind,
    CardState,
    MemberStatus,
    Payment,
    TxKind,
)
from tapcard.domain.programs import PROGRAM_KINDS
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, NotFoundError, ValidationError

CARD_ID_PREFIX = "C"
CARD_SEQ_KEY = "card_seq"
CARD_SEQ_START = "100000"  # the first card is C100001


def _next_card_id(conn: Connection) -> str:
    number = int(get_setting(conn, CARD_SEQ_KEY, CARD_SEQ_START)) + 1
    set_setting(conn, CARD_SEQ_KEY, str(number))
    return f"{CARD_ID_PREFIX}{number}"


def issue_card(
    conn: Connection,
    member_id: int,
    rules: RuleSet,
    actor: str,
    kind: CardKind = CardKind.MEMBER,
    uid: str = "",
    card_id: str = "",
    daily_cents_max: int | None = None,
    daily_points_max: int | None = None,
    today: dt.date | None = None,
    fee_paid_by: str = Payment.CASH,
    waive_fee: bool = False,
    program: str = "",
) -> str:
    """A new card for the member; a supplementary card's annual fee is booked (paid by
    `fee_paid_by`) unless waived, which is audited. A category or co-branded card of
    `program` goes to an account holder of its own (hub/admin/card_accounts.py)."""
    if require_member(conn, member_id).state == MemberStatus.MERGED:
        raise ConflictError(f"member {member_id} was merged into another: issue to that one")
    for limit in (daily_cents_max, daily_points_max):
        if limit is not None and not 0 <= limit <= db.INT_MAX:
            raise ValidationError(f"a daily limit is between 0 and {db.INT_MAX}")
    today = today or db.today_at(conn)
    card_id = card_id or _next_card_id(conn)
    if conn.execute(sa.select(db.cards.c.id).where(db.cards.c.id == card_id)).first():
        raise ConflictError(f"card {card_id} exists")
    if kind in PROGRAM_KINDS or program:  # its points never combine with another card's
        member_id = open_card_account(conn, member_id, kind, program, rules, actor, today)
    else:
        refuse_combining(conn, member_id)
    conn.execute(
        db.cards.insert().values(
            id=card_id,
            member_id=member_id,
            kind=kind.value,
            state=CardState.ACTIVE.value,
            uid=uid,
            issued_on=today,
            expires_on=rules_engine.card_expires_on(rules, today),
            state_ms=db.now_ms(conn),
            daily_cents_max=daily_cents_max,
            daily_points_max=daily_points_max,
        )
    )
    audit(conn, actor, "card.issue", card_id, {"member": member_id, "kind": kind.value})
    if kind is CardKind.SUPPLEMENTARY:
        supplementary_fee(conn, member_id, card_id, rules, actor, fee_paid_by, waive_fee)
    return card_id


def require_card(conn: Connection, card_id: str) -> Row[Any]:
    row = conn.execute(sa.select(db.cards).where(db.cards.c.id == card_id)).first()
    if row is None:
        raise NotFoundError(f"card {card_id} does not exist")
    return row


def report_lost(conn: Connection, card_id: str, actor: str) -> int:
    """Mark a card lost and put it on the deny list; returns the new deny list version."""
    card = require_card(conn, card_id)
    if card.state in {s.value for s in CARD_STATES_FINAL}:
        raise ConflictError(f"card {card_id} is already {card.state}")
    conn.execute(
        db.cards.update()
        .where(db.cards.c.id == card_id)
        .values(state=CardState.LOST.value, state_ms=db.now_ms(conn))
    )
    audit(conn, actor, "card.lost", card_id)
    return deny(conn, card_id, CardState.LOST.value)


def replace_card(
    conn: Connection,
    old_card_id: str,
    rules: RuleSet,
    actor: str,
    uid: str = "",
    fee_paid_by: str = Payment.CASH,
    waive_fee: bool = False,
) -> str:
    """A new card for the same member; the old one is refused everywhere from now on.

    Balances and points live on the card's member's accounts (a category or co-branded
    card's own account holder), so they carry over as they are, to nobody else;
    the replacement fee from the rules is booked as a transfer, unless waived (then the
    transfer books no fee and the waiver is audited).
    """
    old = require_card(conn, old_card_id)
    if old.state in (CardState.REPLACED.value, CardState.TERMINATED.value):
        raise ConflictError(f"card {old_card_id} is {old.state} and cannot be replaced")
    new_id = _next_card_id(conn)
    conn.execute(
        db.cards.insert().values(
            id=new_id,
            member_id=old.member_id,
            kind=old.kind,
            state=CardState.ACTIVE.value,
            uid=uid,
            issued_on=db.today_at(conn),
            expires_on=old.expires_on,
            state_ms=db.now_ms(conn),
            daily_cents_max=old.daily_cents_max,
            daily_points_max=old.daily_points_max,
        )
    )
    conn.execute(
        db.cards.update()
        .where(db.cards.c.id == old_card_id)
        .values(state=CardState.REPLACED.value, replaced_by=new_id, state_ms=db.now_ms(conn))
    )
    if old.state != CardState.LOST.value:
        deny(conn, old_card_id, CardState.REPLACED.value)
    fee = rules.fees.replacement_cents
    legs = [] if waive_fee else fee_legs(int(old.member_id), fee, fee_paid_by)
    detail: dict[str, object] = {"old_card": old_card_id, "fee_cents": 0 if waive_fee else fee}
    if waive_fee:
        detail["fee_waived_cents"] = fee
        audit(conn, actor, "fee.waive", new_id, {"fee": "replacement", "cents": fee})
    book_admin(
        conn,
        TxKind.REPLACEMENT,
        int(old.member_id),
        legs,
        actor,
        "card replacement",
        card_id=new_id,
        detail=detail,
        rules=rules,
    )
    audit(conn, actor, "card.replace", old_card_id, {"new_card": new_id})
    return new_id


def renew_card(
    conn: Connection,
    card_id: str,
    rules: RuleSet,
    actor: str,
    fee_paid_by: str = Payment.CASH,
    waive_fee: bool = False,
) -> dt.date:
    card = require_card(conn, card_id)
    if card.state not in (CardState.ACTIVE.value, CardState.EXPIRED.value):
        raise ConflictError(f"card {card_id} is {card.state} and cannot be renewed")
    today = db.today_at(conn)
    expiry = rules_engine.renewed_expiry(rules, card.expires_on, today)
    conn.execute(
        db.cards.update()
        .where(db.cards.c.id == card_id)
        .values(state=CardState.ACTIVE.value, expires_on=expiry, state_ms=db.now_ms(conn))
    )
    # The joining fee when a joining by spend lapsed, a supplementary card's own fee.
    fee_kind = renewal_fee_kind(conn, int(card.member_id), card.kind)
    fee = rules_engine.fee_cents(rules, fee_kind)
    legs = [] if waive_fee else fee_legs(int(card.member_id), fee, fee_paid_by)
    # The expiry before renewal: points frozen since then thaw (hub/point_buckets.py).
    detail: dict[str, object] = {
        "expires_on": expiry.isoformat(),
        "renewed_from": card.expires_on.isoformat(),
    }
    if waive_fee:
        detail["fee_waived_cents"] = fee
        audit(conn, actor, "fee.waive", card_id, {"fee": fee_kind.value, "cents": fee})
    detail["fee"] = fee_kind.value
    joining_fee_paid(conn, int(card.member_id))
    book_admin(
        conn,
        TxKind.RENEWAL,
        int(card.member_id),
        legs,
        actor,
        "renewal",
        card_id=card_id,
        detail=detail,
        rules=rules,
    )
    audit(conn, actor, "card.renew", card_id, {"expires_on": expiry.isoformat()})
    return expiry
