"""The tenders of one intent as the hub decides them (tapcard.domain.tenders): the
parts of a split, why a split cannot pay the amount due, what it takes from stored
value, and how a transfer's detail keeps them (the daily close and refunds read it)."""

from __future__ import annotations

from typing import Any

from tapcard.domain.model import Payment
from tapcard.domain.tenders import Tendered, decode_parts, encode_parts, paid_by, split_error
from tapcard.domain.tenders import stored_value_cents as _stored_value_cents
from tapcard.wire.messages import AnyOp, Fee, Purchase, Renewal, Spend, TopUp, parts_of

Paid = Purchase | TopUp | Fee | Renewal


def parts(op: Paid) -> tuple[Tendered, ...]:
    return parts_of(op)


def payment_of(op: Paid) -> Payment:
    return Payment.CASH if isinstance(op, TopUp) else op.payment


def refusal(op: Paid, due_cents: int) -> str:
    """Why the op's tenders cannot pay `due_cents` ('' when they can)."""
    split = parts_of(op)
    if not split:
        return ""
    if not isinstance(op, TopUp) and split[0].payment is not op.payment:
        return "a split's payment names its first tender"
    return split_error(split, due_cents, stored_value_ok=not isinstance(op, TopUp))


def stored_value_cents(op: Paid, due_cents: int) -> int:
    """What the op takes from the member's stored value."""
    return _stored_value_cents(paid_by(parts_of(op), payment_of(op), due_cents))


def uses_stored_value(op: AnyOp) -> bool:
    """Whether any tender of the op is stored value (a card kind without it refuses)."""
    if isinstance(op, Spend):
        return True
    if isinstance(op, Purchase | Fee | Renewal):
        return op.payment is Payment.STORED_VALUE or any(
            p.payment is Payment.STORED_VALUE for p in op.tenders
        )
    return False


def detail(op: Paid, due_cents: int) -> dict[str, Any]:
    """The tenders as the transfer's detail keeps them (one tender: only with a split)."""
    split = parts_of(op)
    return {"tenders": encode_parts(split)} if split else {}


def of_detail(detail: dict[str, Any], due_cents: int) -> tuple[Tendered, ...]:
    """The tenders a booked transfer was paid with: its split, or its one payment."""
    split = decode_parts(detail.get("tenders"))
    if split:
        return split
    payment = detail.get("payment")
    return paid_by((), Payment(payment), due_cents) if payment else ()
