"""The counter asks the hub what a refund would give back (RefundQuote), on SQLite and
PostgreSQL.

Scenario: a cashier at the seeded terminal sold Li Wei two lines (¥100 and ¥50, the
welcome 10 % off), picks the second line to refund and asks for the quote: the hub
answers the exact money back, how it is paid and the points taken back, and books
nothing; the refund then booked gives back exactly that. A quote for more than is left
is refused with the reason, as the refund itself would be.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import db, staff
from tapcard.device.intents import StaffBadge
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tests.conftest import Seeded
from tests.hub.support import Device, purchase, staff_on_duty


def _ask(seeded: Seeded, badge: StaffBadge, op: sm.RefundQuote) -> sm.StaffReply:
    request = sm.StaffRequest(device=seeded.device_id, staff="ann", session=badge.session, op=op)
    return staff.handle(seeded.hub, request, "shop-1")


def _refunds(seeded: Seeded) -> int:
    with seeded.hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.refunds)).scalar_one())


def test_the_quote_is_what_the_refund_then_books(seeded: Seeded) -> None:
    device = Device(seeded.device_id, seeded.device_key)
    badge = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    card = seeded.cards[0]
    sold = device.incoming(card, purchase(10_000, 5_000, receipt_no="R-3"), staff=badge)
    [sale] = seeded.hub.ledger.apply_batch([sold])
    line = [m.RefundLine(line_no=1, quantity=1)]
    reply = _ask(seeded, badge, sm.RefundQuote(ref=str(sale.tx_id), lines=line))
    assert reply.error == "" and reply.quote is not None, reply.message
    assert reply.quote == sm.RefundQuoteView(money_cents=4_500, payment="cash", points=45)
    by_receipt = _ask(seeded, badge, sm.RefundQuote(ref="R-3", lines=line))
    by_terminal_ref = _ask(
        seeded, badge, sm.RefundQuote(ref=f"{sale.seq}/{str(sale.tx_id)[:8]}", lines=line)
    )
    assert by_receipt.quote == by_terminal_ref.quote == reply.quote
    assert _refunds(seeded) == 0  # a quote books nothing
    op = m.Refund(ref=str(sale.tx_id), lines=line, reason="damaged")
    [booked] = seeded.hub.ledger.apply_batch([device.incoming(card, op, staff=badge)])
    assert booked.accepted
    assert (booked.net_cents, booked.points_spent) == (reply.quote.money_cents, 45)
    again = _ask(seeded, badge, sm.RefundQuote(ref=str(sale.tx_id), lines=line))
    assert again.error == "conflict" and "REFUND_EXCEEDS_SALE" in again.message
    whole = _ask(seeded, badge, sm.RefundQuote(ref=str(sale.tx_id)))
    assert whole.quote is not None
    assert whole.quote.money_cents == sale.net_cents - booked.net_cents
    assert _ask(seeded, badge, sm.RefundQuote(ref="R-NONE")).error == "not_found"
