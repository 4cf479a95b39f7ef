"""Money and points through the device runtime: the one way a terminal books a
transaction (sale, top-up, spend, redemption, renewal, backfill), and stored value and
redemption themselves.

The runtime decides (offline policy), commits the intent to its outbox and answers at
once; online the screen then waits up to RESULT_WAIT_S for the hub's result. A refusal,
from either, is a message; a booking is a receipt and goes into the shift's tally.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from tapcard.device.port import LocalReceipt, Outcome, Seen, settle
from tapcard.domain.model import Payment
from tapcard.domain.tenders import Tendered
from tapcard.receipts.content import Row
from tapcard.receipts.printer import Printer
from tapcard.ui import fmt
from tapcard.ui.refusals import counter_detail, counter_title
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import ReceiptPrinter, reference, tender_rows
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


def tender_parts(parts: Sequence[Tendered]) -> list[m.TenderPart]:
    """The tenders as an intent carries them."""
    return [m.TenderPart(payment=p.payment, amount_cents=p.cents, ref=p.ref) for p in parts]


# One transaction, given the (snapshot, online) the terminal saw at the tap.
Booking = Callable[[Seen], LocalReceipt]


@dataclass(frozen=True, slots=True)
class Printed:
    """What the printed receipt says beyond the hub's result: the items, the tenders,
    notes such as a renewal's new expiry."""

    items: tuple[Row, ...] = ()
    tenders: tuple[Row, ...] = ()
    notes: tuple[Row, ...] = ()
    discounts: tuple[Row, ...] = ()  # member price, tier discount, each campaign by name
    offline: tuple[Row, ...] = ()  # offline only: the quote's total and points to earn


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
        notes = p.notes + (p.offline if result is None else ())
        out = self.receipts.printout(
            title, receipt, result, p.items, p.tenders, notes, kind.value, p.discounts
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
        """A top-up in cash."""
        cents = self._cents(amount_text)
        if cents is not None:
            self.top_up_parts(cents, (Tendered(Payment.CASH, cents),))

    def top_up_parts(self, cents: int, parts: Sequence[Tendered]) -> None:
        """A top-up paid by `parts` (cash, bank card, WeChat Pay, Alipay; never stored
        value), each recorded with its reference; all cash is the top-up as before."""
        d, t = self.desk, self.desk.t
        card_id = d.card_id()
        if card_id is None or not d.guard():
            return
        printed = Printed(items=((t("Top-up"), fmt.money(cents)),), tenders=tender_rows(t, parts))
        if all(p.payment is Payment.CASH for p in parts):
            self.submit(
                Kind.TOPUP,
                lambda seen: d.port.top_up(card_id, cents, staff=d.staff_id(), seen=seen),
                takings=(Kind.TOPUP.value, cents),
                printed=printed,
            )
            return
        op = m.TopUp(amount_cents=cents, tenders=tender_parts(parts))
        self.submit(
            Kind.TOPUP,
            lambda seen: d.port.submit(card_id, op, staff=d.staff_id(), seen=seen),
            takings=tuple((f"topup_{p.payment.value}", p.cents) for p in parts),
            printed=printed,
        )

    def spend(self, amount_text: str) -> None:
        d = self.desk
        card_id, cents = d.card_id(), self._cents(amount_text)
        if card_id is None or cents is None:
            return
        self.submit(
            Kind.SPEND,
            lambda seen: d.port.spend(card_id, cents, staff=d.staff_id(), seen=seen),
            takings=(Kind.SPEND.value, cents),
            printed=Printed(items=((d.t("Spend"), fmt.money(cents)),)),
        )

    def _cents(self, amount_text: str) -> int | None:
        """The amount typed, or None (and why, on screen) with no card or no amount."""
        d = self.desk
        if d.card_id() is None or not d.guard():
            return None
        cents = fmt.parse_money(amount_text)
        if cents is None or cents <= 0:
            d.message(d.t("Please check the entries"))
            return None
        return cents

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
            printed=Printed(items=((f"{d.t(names.get(item, item))} \u00d7 {units}", ""),)),
        )


__all__ = ["RESULT_WAIT_S", "Kind", "Printed", "Transactions", "reference", "tender_parts"]
