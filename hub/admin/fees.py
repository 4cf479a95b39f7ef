"""Fees charged at HQ: the legs of a fee by how it is paid, and the joining fee."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from hub.admin.audit import audit
from hub.admin.booking import book_admin
from tapcard.domain import ledger
from tapcard.domain.model import Payment, TxKind
from tapcard.domain.rules import RuleSet
from tapcard.errors import ValidationError


def fee_legs(member_id: int, amount_cents: int, paid_by: str) -> list[ledger.Leg]:
    """The legs of a fee paid by `paid_by` (a Payment value, as typed or posted)."""
    try:
        payment = Payment(paid_by)
    except ValueError:
        raise ValidationError("a fee is paid by cash or stored_value") from None
    return ledger.fee_legs(member_id, amount_cents, payment)


def joining_fee(
    conn: Connection,
    member_id: int,
    rules: RuleSet,
    actor: str,
    card_id: str | None = None,
    waive_fee: bool = False,
) -> int:
    """Book the rules' joining fee, paid cash, as a fee transfer; or audit its waiver.
    Returns the cents booked (0 when there is no fee or it was waived)."""
    fee = rules.fees.joining_cents
    if fee <= 0:
        return 0
    if waive_fee:
        audit(conn, actor, "fee.waive", str(member_id), {"fee": "joining", "cents": fee})
        return 0
    book_admin(
        conn,
        TxKind.FEE,
        member_id,
        fee_legs(member_id, fee, Payment.CASH),
        actor,
        "joining fee",
        card_id=card_id,
        detail={"fee": "joining", "fee_cents": fee},
        rules=rules,
    )
    return fee


def supplementary_fee(
    conn: Connection,
    member_id: int,
    card_id: str,
    rules: RuleSet,
    actor: str,
    paid_by: str = Payment.CASH,
    waive_fee: bool = False,
) -> int:
    """Book the supplementary card's annual fee for its first year (renewals charge it
    again, hub/admin/cards.py), or audit its waiver; returns the cents booked."""
    fee = rules.fees.supplementary_cents
    if fee <= 0:
        return 0
    if waive_fee:
        audit(conn, actor, "fee.waive", card_id, {"fee": "supplementary", "cents": fee})
        return 0
    book_admin(
        conn,
        TxKind.FEE,
        member_id,
        fee_legs(member_id, fee, paid_by),
        actor,
        "supplementary card fee",
        card_id=card_id,
        detail={"fee": "supplementary", "fee_cents": fee},
        rules=rules,
    )
    return fee
