"""What a sale still has to refund, as the counter's refund screen shows it (SaleLookup,
answered in `StaffReply.sale`), and what a refund of some of it would give back
(RefundQuote, answered in `StaffReply.quote`). Any branch of the chain may refund any
sale; the member's name is masked as everywhere on a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.refund import preview_refund
from hub.refunds import Sale, load_sales
from hub.rulestore import RulesCache
from tapcard.domain.model import Asset, TxKind, mask_name
from tapcard.errors import NotFoundError
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm

QUOTE_REASON = "quote"  # a preview's: the real refund carries the cashier's reason


def sale_view(conn: Connection, ref: str) -> sm.SaleView:
    """The sale `ref` names (transfer id or receipt number); NotFoundError otherwise."""
    sale = load_sales(conn, [ref]).get(ref.strip())
    if sale is None:
        raise NotFoundError(f"no purchase or redemption {ref.strip()[:64]}")
    name = conn.execute(
        sa.select(db.members.c.name).where(db.members.c.id == sale.member_id)
    ).scalar()
    why_not = _why_not(sale)
    payment = sale.payment
    return sm.SaleView(
        tx_id=sale.tx_id,
        kind=sale.kind.value,
        card_id=sale.card_id,
        member_id=sale.member_id,
        member_name_masked=mask_name(name or ""),
        created_ms=sale.created_ms,
        payment=payment.value if payment is not None else "",
        net_cents=sale.net_cents if sale.kind is TxKind.PURCHASE else 0,
        refunded_cents=sale.refunded_cents,
        points_earned=_points(sale),
        item=str(sale.detail.get("item", "")),
        units=sale.units if sale.kind is TxKind.REDEEM else 0,
        voucher_used=sale.voucher_state == "used",
        refundable=not why_not,
        why_not=why_not,
        lines=[
            sm.SaleLineView(
                line_no=n,
                category=line.category,
                sku=line.sku,
                unit_price_cents=line.unit_price_cents,
                quantity=line.quantity,
                refunded=sale.refunded.get(n, 0),
            )
            for n, line in enumerate(sale.lines)
        ],
    )


def quote_view(
    conn: Connection,
    rules: RulesCache,
    ref: str,
    lines: Sequence[m.RefundLine],
    actor: str,
) -> sm.RefundQuoteView:
    """What refunding `lines` of sale `ref` would give back, by the same preview the
    dashboard and `tapcard hub refund` show before they ask (hub.admin.refund); books
    nothing. A refund the hub would refuse is a ConflictError saying why."""
    op = m.Refund(ref=ref, lines=list(lines), reason=QUOTE_REASON)
    done = preview_refund(conn, rules, op, actor)
    return sm.RefundQuoteView(
        money_cents=done.money_cents,
        payment=done.payment,
        points=done.points,
        points_shortfall=done.shortfall_points,
    )


def _points(sale: Sale) -> int:
    if sale.kind is TxKind.REDEEM:
        return sale.points_spent
    return sale.earned.get(Asset.POINTS, 0)


def _why_not(sale: Sale) -> str:
    if sale.kind is TxKind.REDEEM:
        if sale.voucher_state == "used":
            return "the voucher was used"
        if sale.voucher_state or sale.refunded_points:
            return "the reward was already given back"
        return ""
    if all(sale.refunded.get(n, 0) >= line.quantity for n, line in enumerate(sale.lines)):
        return "everything was already refunded"
    return ""
