"""Money and points through the device runtime: the one way a terminal books a
transaction (sale, top-up, spend, redemption, renewal, backfill), and stored value and
redemption themselves.

The runtime decides (offline policy), commits the intent to its outbox and answers at
once; online the screen then waits up to RESULT_WAIT_S for the hub's result. A refusal,
from either, is a message; a booking is a receipt and goes into the shift's tally.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tapcard.device.port import LocalReceipt, Outcome, Seen, settle
from tapcard.receipts.content import Row
from tapcard.receipts.printer import Printer
from tapcard.ui import fmt
from tapcard.ui.refusals import counter_detail, counter_title
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import ReceiptPrinter, reference
from terminal.presenters.shift import Takings
from terminal.presenters.views import ReceiptView, Screen

# A booking's takings: one (key, cents), or one per tender of a split.
TakingsOf = Takings | tuple[Takings, ...] | None

RESULT_WAIT_S: Final = 5.0


class Kind(enum.StrEnum):
    """A booking's kind: its shift count, its takings key, and its receipt's title."""

    SALE = "sale"
    TOPUP = "topup"
    SPEND = "spend"
    REDEEM = "redeem"
    RENEWAL = "renewal"
    BACKFILL = "backfill"


# One transaction, given the (snapshot, online) the terminal saw at the tap.
Booking = Callable[[Seen], LocalReceipt]


@dataclass(frozen=True, slots=True)
class Printed:
    """What the printed receipt says beyond the hub's result: the items, the tenders,
    notes such as a renewal's new expiry."""

    items: tuple[Row, ...] = ()
    tenders: tuple[Row, ...] = ()
    notes: tuple[Row, ...] = ()


class Transactions:
    def __init__(self, desk: Desk, printer: Printer | None = None) -> None:
        self.desk = desk
        self.receipts = ReceiptPrinter(desk, printer)

    def submit(
        self,
        kind: Kind,
        book: Booking,
        takings: TakingsOf = None,
        booked: Callable[[], None] | None = None,
        printed: Printed = Printed(),
    ) -> None:
        """Book on the worker; then a receipt (and `booked()`), or why not."""
        d = self.desk
        card = d.card
        assert card is not None
        seen = card.seen

        def job() -> Outcome:
            return settle(d.port, book(seen), RESULT_WAIT_S)

        d.worker.submit(job, lambda outcome: self._done(kind, outcome, takings, booked, printed))

    def _done(
        self,
        kind: Kind,
        outcome: Outcome | Exception,
        takings: TakingsOf,
        booked: Callable[[], None] | None,
        printed: Printed = Printed(),
    ) -> None:
        d, t = self.desk, self.desk.t
        if isinstance(outcome, Exception):
            d.message(t("Sorry, this cannot be done here"))
            return
        receipt, result = outcome.receipt, outcome.result
        # The device's and the hub's messages are English for the log, never the screen.
        if not receipt.accepted:
            d.message(t(counter_title(receipt.reason)), t(counter_detail(receipt.reason)))
            return
        if result is not None and not result.accepted:
            reason = Reason(result.reason)
            d.message(t(counter_title(reason)), t(counter_detail(reason)))
            return
        d.shift.book(kind, takings, result.points_earned if result is not None else 0)
        if booked is not None:
            booked()
        view = ReceiptView(d.header(), t(kind.capitalize()), self._receipt_lines(receipt, result))
        d.last_receipt = receipt
        d.show(Screen.RECEIPT, view)
        p = printed
        title = t(kind.capitalize())
        out = self.receipts.printout(
            title, receipt, result, p.items, p.tenders, p.notes, kind.value
        )
        self.receipts.issue(out)
        d.refresh_card()

    def _receipt_lines(self, receipt: LocalReceipt, result: m.TxResult | None) -> tuple[str, ...]:
        d, t = self.desk, self.desk.t
        rows = [t("Staff") + f": {d.staff_name()}", t("Card") + f": {d.header().card}"]
        if result is not None:
            if result.net_cents:
                rows.append(t("Paid") + f": {fmt.money(result.net_cents)}")
            if result.discount_cents:
                rows.append(t("Discounts") + f": {fmt.money(result.discount_cents)}")
            rows.append(t("Points earned") + f": {result.points_earned}")
            if result.points_spent:
                rows.append(t("Points used: {points}", points=result.points_spent))
            if result.voucher:
                rows.append(t("Voucher") + f": {result.voucher}")
            if result.balances is not None:
                rows.append(
                    t("Points")
                    + f" {fmt.points(result.balances.points)} · "
                    + t("Stored value")
                    + f" {fmt.money(result.balances.stored_value_cents)}"
                )
        else:
            rows.append(t("Queued offline: sent when the hub is back"))
        rows.append(t("Reference: {ref}", ref=reference(receipt)))
        return tuple(rows)

    # --- stored value and redemption -----------------------------------------------------

    def top_up(self, amount_text: str) -> None:
        self._money_op(Kind.TOPUP, amount_text)

    def spend(self, amount_text: str) -> None:
        self._money_op(Kind.SPEND, amount_text)

    def _money_op(self, kind: Kind, amount_text: str) -> None:
        d = self.desk
        cents = fmt.parse_money(amount_text)
        card_id = d.card_id()
        if card_id is None or not d.guard():
            return
        if cents is None or cents <= 0:
            d.message(d.t("Please check the entries"))
            return
        call = d.port.top_up if kind == Kind.TOPUP else d.port.spend
        label = d.t(kind.capitalize())
        tenders = ((d.t("Cash"), fmt.money(cents)),) if kind == Kind.TOPUP else ()
        self.submit(
            kind,
            lambda seen: call(card_id, cents, staff=d.staff_id(), seen=seen),
            takings=(kind.value, cents),
            printed=Printed(items=((label, fmt.money(cents)),), tenders=tenders),
        )

    def redeem(self, item: str, units: int = 1) -> None:
        d = self.desk
        card_id = d.card_id()
        if card_id is None or not d.guard():
            return
        rules = d.port.rules
        names = {c.code: c.name for c in rules.catalog} if rules is not None else {}
        self.submit(
            Kind.REDEEM,
            lambda seen: d.port.redeem(card_id, item, units, staff=d.staff_id(), seen=seen),
            printed=Printed(items=((f"{names.get(item, item)} \u00d7 {units}", ""),)),
        )


__all__ = ["RESULT_WAIT_S", "Kind", "Printed", "Transactions", "reference"]
