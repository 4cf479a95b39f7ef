"""What the capability table (tapcard.domain.authority) bounds in one operation: its kind,
its tender and the amount the device chose. One mapping and one check (`op_denial`) for
the hub, which refuses what the table forbids, and the device, which refuses it before
it queues anything."""

from __future__ import annotations

from collections.abc import Sequence

from tapcard.domain.authority import Denial, capability_denial
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import DeviceKind, Payment, TxKind
from tapcard.domain.rules import RuleSet
from tapcard.wire.messages import (
    AnyOp,
    Backfill,
    Fee,
    Purchase,
    Redeem,
    Refund,
    Renewal,
    Spend,
    TopUp,
)


def operation_of(op: AnyOp) -> tuple[TxKind, Payment | None, int]:
    """(operation, tender, amount in cents): a sale's gross; redemptions, fees and
    refunds are priced by the rules, so no device-chosen amount."""
    if isinstance(op, Purchase):
        return TxKind.PURCHASE, op.payment, gross_cents(op.lines)
    if isinstance(op, TopUp):
        return TxKind.TOPUP, Payment.CASH, op.amount_cents
    if isinstance(op, Spend):
        return TxKind.SPEND, Payment.STORED_VALUE, op.amount_cents
    if isinstance(op, Redeem):
        return TxKind.REDEEM, None, 0
    if isinstance(op, Backfill):
        return TxKind.BACKFILL, None, gross_cents(op.lines)
    if isinstance(op, Fee):
        return TxKind.FEE, op.payment, 0
    if isinstance(op, Refund):
        return TxKind.REFUND, None, 0
    return TxKind.RENEWAL, op.payment, 0


def gross_cents(lines: Sequence[SaleLine]) -> int:
    return sum(line.unit_price_cents * line.quantity for line in lines)


def operations_of(op: AnyOp) -> list[tuple[TxKind, Payment | None, int]]:
    """What the table bounds: the one (operation, tender, amount) of `operation_of`, or
    for a split payment one per part, each bounded by its tender's row and its amount."""
    if isinstance(op, Purchase | TopUp | Fee | Renewal) and op.tenders:
        kind = operation_of(op)[0]
        return [(kind, part.payment, part.amount_cents) for part in op.tenders]
    return [operation_of(op)]


def op_denial(rules: RuleSet, device: DeviceKind, branch: str, op: AnyOp) -> Denial | None:
    """The table's first denial of the op for this device and branch, or None: each
    (operation, tender, amount) of `operations_of` in turn (a split: each tender)."""
    for operation, tender, amount_cents in operations_of(op):
        denial = capability_denial(
            rules,
            device=device,
            branch=branch,
            operation=operation,
            tender=tender,
            amount_cents=amount_cents,
        )
        if denial is not None:
            return denial
    return None
