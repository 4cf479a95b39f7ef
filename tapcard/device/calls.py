"""The named transaction calls of the device runtime (`purchase`, `top_up`, `spend`,
`redeem`, `backfill`, `refund`, `renew`, `fee`): each builds its wire operation and hands
it to `submit`, the one path that decides and queues (tapcard/device/runtime.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tapcard.device.port import LocalReceipt, Seen
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import FeeKind, Payment
from tapcard.wire import messages as m


class TransactionCalls:
    """Mixed into DeviceRuntime, which gives `submit`."""

    def submit(
        self,
        card_id: str,
        op: m.AnyOp,
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt:
        raise NotImplementedError

    def purchase(
        self,
        card_id: str,
        lines: Sequence[SaleLine],
        payment: Payment = Payment.CASH,
        receipt_no: str = "",
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt:
        op = m.Purchase(lines=list(lines), payment=payment, receipt_no=receipt_no)
        return self.submit(card_id, op, staff, seen)

    def top_up(
        self, card_id: str, amount_cents: int, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt:
        return self.submit(card_id, m.TopUp(amount_cents=amount_cents), staff, seen)

    def spend(
        self, card_id: str, amount_cents: int, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt:
        return self.submit(card_id, m.Spend(amount_cents=amount_cents), staff, seen)

    def redeem(
        self, card_id: str, item: str, units: int = 1, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt:
        return self.submit(card_id, m.Redeem(item=item, units=units), staff, seen)

    def backfill(
        self,
        card_id: str,
        receipt_no: str,
        receipt_on: dt.date,
        lines: Sequence[SaleLine],
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt:
        op = m.Backfill(receipt_no=receipt_no, receipt_on=receipt_on, lines=list(lines))
        return self.submit(card_id, op, staff, seen)

    def refund(
        self, card_id: str, op: m.Refund, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt:
        return self.submit(card_id, op, staff, seen)

    def renew(
        self,
        card_id: str,
        payment: Payment = Payment.CASH,
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt:
        return self.submit(card_id, m.Renewal(payment=payment), staff, seen)

    def fee(
        self,
        card_id: str,
        kind: FeeKind,
        payment: Payment = Payment.CASH,
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt:
        return self.submit(card_id, m.Fee(fee=kind, payment=payment), staff, seen)
