"""Tenders of one payment: how an amount due is paid, in one tender or split over a few
(e.g. ¥50 from stored value and the rest by WeChat Pay).

The rules, written once for the hub and the device: a split has 1..TENDERS_MAX parts,
each of a positive amount, and sums exactly to the amount due, or it is refused and
books nothing; a top-up is never paid from stored value. A refund goes back to the
sale's tenders, the last tender first (`refund_parts`, docs/refunds.md). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tapcard.domain.model import EXTERNAL_TENDERS, Payment

TENDERS_MAX: Final = 4  # parts of one split: a sale's legs stay within LEGS_PER_TRANSFER_MAX
TENDER_REF_CHARS_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class Tendered:
    """One part of a payment: the tender, its amount and the provider's reference (the
    bank card slip's or the WeChat/Alipay transaction number; '' for cash and stored
    value)."""

    payment: Payment
    cents: int
    ref: str = ""


def paid_by(parts: Sequence[Tendered], payment: Payment, due_cents: int) -> tuple[Tendered, ...]:
    """The tenders that pay `due_cents`: the split's parts, or the one tender whole."""
    if parts:
        return tuple(parts)
    return (Tendered(payment, due_cents),) if due_cents else ()


def split_error(parts: Sequence[Tendered], due_cents: int, *, stored_value_ok: bool = True) -> str:
    """Why these parts cannot pay `due_cents` ('' when they can; no parts: one tender)."""
    if not parts:
        return ""
    if len(parts) > TENDERS_MAX:
        return f"a payment is split over at most {TENDERS_MAX} tenders"
    if any(p.cents <= 0 for p in parts):
        return "each tender of a split pays a positive amount"
    if not stored_value_ok and any(p.payment is Payment.STORED_VALUE for p in parts):
        return "a top-up cannot be paid from stored value"
    if any(len(p.ref) > TENDER_REF_CHARS_MAX for p in parts):
        return f"a tender's reference has at most {TENDER_REF_CHARS_MAX} characters"
    if any(p.ref and p.payment not in EXTERNAL_TENDERS for p in parts):
        return "only bank card, WeChat Pay and Alipay carry a reference"
    total = sum(p.cents for p in parts)
    if total != due_cents:
        return f"the tenders sum to {total} cents, the amount due is {due_cents} cents"
    return ""


def stored_value_cents(parts: Sequence[Tendered]) -> int:
    return sum(p.cents for p in parts if p.payment is Payment.STORED_VALUE)


def refund_parts(
    parts: Sequence[Tendered], refunded_cents: int, money_cents: int
) -> tuple[Tendered, ...]:
    """Where `money_cents` of a sale paid by `parts` goes back, after `refunded_cents`
    went back already: the last tender first, each up to what it paid. Earlier refunds
    followed the same order, so what each tender has left follows from their sum."""
    out: list[Tendered] = []
    skip, left = refunded_cents, money_cents
    for part in reversed(parts):
        room = part.cents - min(part.cents, skip)
        skip -= min(part.cents, skip)
        take = min(room, left)
        if take:
            out.append(Tendered(part.payment, take, part.ref))
            left -= take
    assert left == 0, (parts, refunded_cents, money_cents)
    return tuple(out)


def encode_parts(parts: Sequence[Tendered]) -> list[list[object]]:
    """The parts as a transfer's detail keeps them: [[tender, cents, ref], ...]."""
    return [[p.payment.value, p.cents, p.ref] for p in parts]


def decode_parts(rows: object) -> tuple[Tendered, ...]:
    """The parts a transfer's detail kept ([] or missing: none)."""
    if not isinstance(rows, list):
        return ()
    return tuple(Tendered(Payment(str(r[0])), int(r[1]), str(r[2])) for r in rows)
