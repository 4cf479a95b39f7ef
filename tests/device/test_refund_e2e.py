"""A refund end to end: a counter terminal's runtime on a real mosquitto and hub.

Scenario: a cashier logged in at a terminal sells two lines, then refunds one of them
through the runtime's `refund` (what the refund screen calls): the intent goes through
the outbox to the hub, which books it against the sale and answers with the money back
and the points taken back; the outbox drains, the member's balances are the sale's less
the refunded line, and `verify` is clean. Sending the same refund reference for more
than is left comes back refused, and changes nothing.
"""

from __future__ import annotations

from hub.verify import verify_ledger
from tapcard.domain.engine import SaleLine
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.device.conftest import Rig
from tests.hub.support import staff_on_duty


def test_a_counter_refund_reaches_the_ledger(rig: Rig) -> None:
    card_id = rig.seeded.cards[0]
    till = rig.device("till-9")
    till.set_staff(staff_on_duty(rig.seeded.hub, "till-9", "ann"))
    snapshot, online = till.snapshot(card_id)
    assert online and snapshot is not None
    lines = [SaleLine("grocery", 10_000), SaleLine("grocery", 5_000)]
    sale = till.purchase(card_id, lines, seen=(snapshot, online))
    assert sale.tx_id is not None
    sold = till.wait_result(sale.tx_id, 10)
    assert sold is not None and sold.accepted
    back_op = m.Refund(
        ref=str(sale.tx_id), lines=[m.RefundLine(line_no=1, quantity=1)], reason="broken seal"
    )
    receipt = till.refund(card_id, back_op, staff="ann")
    assert receipt.accepted and receipt.tx_id is not None
    back = till.wait_result(receipt.tx_id, 10)
    assert back is not None and back.accepted, back
    assert back.net_cents == 4_500  # 5,000 less the welcome 10 %, as the sale paid it
    assert back.points_spent == 45
    assert rig.balances(0) == {"cents": 0, "points": sold.points_earned - 45, "growth": 90}
    again = till.refund(card_id, back_op, staff="ann")
    assert again.tx_id is not None
    refused = till.wait_result(again.tx_id, 10)
    assert refused is not None and refused.reason == Reason.REFUND_EXCEEDS_SALE
    assert till.store.depth() == 0
    with rig.seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []
