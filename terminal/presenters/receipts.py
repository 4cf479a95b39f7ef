"""The counter's printed receipts: what a booking's receipt says, printing it when the
terminal has a printer, keeping it for a reprint, and the Reprint action.

Printing runs on the worker after the booking is done and shown: a printer fault is a
line on the receipt screen (the booking stands), never a refusal of the sale. Receipts
are in the screen's language, the branch at the top, the reference (`SEQ/ID8`) at the
bottom, which the refund lookup and a reversal accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from tapcard.device.port import LocalReceipt
from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import Payment
from tapcard.domain.products import Product
from tapcard.domain.tenders import Tendered
from tapcard.receipts.content import Printout, Row
from tapcard.receipts.printer import Printer, PrinterError
from tapcard.receipts.store import ReceiptStore
from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from tapcard.wire import messages as m
from terminal.presenters.campaigns import campaign_label
from terminal.presenters.desk import Desk
from terminal.presenters.views import ReceiptView, Screen

REPRINT_MARK: Final = "Reprint"
TENDER_LABELS: Final = {
    Payment.CASH: "Cash",
    Payment.STORED_VALUE: "Stored value",
    Payment.BANK_CARD: "Bank card",
    Payment.WECHAT: "WeChat Pay",
    Payment.ALIPAY: "Alipay",
}


def reference(receipt: LocalReceipt) -> str:
    """`SEQ/ID8`: how a receipt names its transfer (and a reversal finds it)."""
    return f"{receipt.seq}/{str(receipt.tx_id)[:8]}"


def tender_rows(t: Translator, parts: Sequence[Tendered]) -> tuple[Row, ...]:
    """Each tender of a payment with its reference, as the receipt and the confirmation
    list them ("WeChat Pay 4200...", "¥80.00")."""
    return tuple(
        (t(TENDER_LABELS[p.payment]) + (f" {p.ref}" if p.ref else ""), fmt.money(p.cents))
        for p in parts
    )


def discount_rows(desk: Desk, quote: SaleQuote) -> tuple[Row, ...]:
    """A sale's discounts as the receipt lists them: member price, tier discount and
    each campaign by its name in the receipt's language."""
    t, rows = desk.t, []
    if quote.member_price_saving_cents:
        rows.append((t("Member price"), f"-{fmt.money(quote.member_price_saving_cents)}"))
    if quote.tier_discount_cents:
        rows.append((t("Tier discount"), f"-{fmt.money(quote.tier_discount_cents)}"))
    for code, off in quote.campaign_offs:
        rows.append((campaign_label(t, desk.port.rules, code), f"-{fmt.money(off)}"))
    return tuple(rows)


def offline_rows(desk: Desk, quote: SaleQuote) -> tuple[Row, ...]:
    """What an offline sale's receipt adds: the total and the points as the device
    quoted them (the hub books them when the link is back)."""
    t = desk.t
    return (
        (t("To pay"), fmt.money(quote.net_cents)),
        (t("Points to earn"), fmt.points(quote.points)),
    )


def item_rows(desk: Desk, lines: Sequence[SaleLine]) -> tuple[Row, ...]:
    t, products = desk.t, desk.port.catalog.by_sku
    return tuple(
        (
            # A product by its name in the receipt's language, a free amount by category.
            f"{_item_name(t, products.get(line.sku), line)} \u00d7 {line.quantity}",
            fmt.money(line.unit_price_cents * line.quantity),
        )
        for line in lines
    )


def _item_name(t: Translator, product: Product | None, line: SaleLine) -> str:
    return product.name(t.lang) if product is not None else t(line.sku or line.category)


class ReceiptPrinter:
    def __init__(self, desk: Desk, printer: Printer | None) -> None:
        self.desk = desk
        self.printer = printer
        self.store = ReceiptStore(desk.port.load_doc, desk.port.save_doc)

    def printout(
        self,
        title: str,
        receipt: LocalReceipt,
        result: m.TxResult | None,
        items: tuple[Row, ...] = (),
        tenders: tuple[Row, ...] = (),
        notes: tuple[Row, ...] = (),
        kind: str = "",
        discounts: tuple[Row, ...] = (),
    ) -> Printout:
        """A booking's receipt: the items, the discounts by name, what was paid and by
        which tender, the points earned and the balances after (the hub's result), or
        offline the amounts the device decided."""
        t = self.desk.t
        totals: list[Row] = []
        if result is not None:
            totals += discounts
            if result.discount_cents:
                totals.append((t("Discounts"), f"-{fmt.money(result.discount_cents)}"))
            if result.net_cents:
                totals.append((t("Paid"), fmt.money(result.net_cents)))
            totals += tenders
            totals.append((t("Points earned"), fmt.points(result.points_earned)))
            if result.points_spent:
                totals.append((t("Points used"), fmt.points(result.points_spent)))
            totals += self.balances(result)
        else:  # offline: the amounts the device decided; the hub confirms them later
            totals += discounts
            totals += tenders
            if receipt.cents:
                totals.append((t("Amount"), fmt.money(receipt.cents)))
            if receipt.points:
                totals.append((t("Points used"), fmt.points(receipt.points)))
        totals += notes
        voucher = result.voucher if result is not None else ""
        return self.compose(title, receipt, result, items, tuple(totals), kind, qr=voucher)

    def balances(self, result: m.TxResult) -> tuple[Row, ...]:
        t = self.desk.t
        if result.balances is None:
            return ()
        return (
            (t("Points"), fmt.points(result.balances.points)),
            (t("Stored value"), fmt.money(result.balances.stored_value_cents)),
        )

    def compose(
        self,
        title: str,
        receipt: LocalReceipt,
        result: m.TxResult | None,
        items: tuple[Row, ...],
        totals: tuple[Row, ...],
        kind: str,
        qr: str = "",
        before: tuple[str, ...] = (),
    ) -> Printout:
        """The branch, time, staff and card on top; the reference (and the offline
        notice) at the bottom, after `before` (a refund names the sale it refunds)."""
        d, t = self.desk, self.desk.t
        branch = self.printer.branch_name if self.printer else ""
        now_ms = d.wall.now_ms()
        header = (
            branch or d.port.bundle.branch_id,
            fmt.clock(now_ms),
            t("Staff") + f": {d.staff.name if d.staff else ''}",
            t("Card") + f": {d.header().card}",
        )
        footer = [*before, t("Reference: {ref}", ref=reference(receipt))]
        if result is None:
            footer.append(t("Queued offline: sent when the hub is back"))
        return Printout(title, header, items, totals, tuple(footer), qr, now_ms, kind)

    def issue(self, printout: Printout) -> None:
        """Keep the receipt for a reprint and print it (when there is a printer)."""
        d = self.desk

        def job() -> str:
            self.store.keep(printout)
            return self._print(printout)

        d.worker.submit(job, self._printed)

    def reprint(self) -> None:
        d = self.desk
        d.touch()

        def job() -> str:
            last = self.store.last()
            if last is None:
                return d.t("No receipt to reprint")
            return self._print(last, d.t(REPRINT_MARK)) or d.t("Reprinted")

        d.worker.submit(job, self._reprinted)

    def _print(self, printout: Printout, mark: str = "") -> str:
        """'' when printed (or no printer), else the fault as the screen says it."""
        if self.printer is None:
            return ""
        try:
            self.printer.print_out(printout, mark)
        except PrinterError as exc:
            return self.desk.t("Printer fault: {detail}", detail=str(exc)[:120])
        return ""

    def _printed(self, fault: str | Exception) -> None:
        d = self.desk
        if isinstance(fault, Exception):
            fault = d.t("Printer fault: {detail}", detail=str(fault)[:120])
        if fault and d.screen == Screen.RECEIPT and isinstance(d.view, ReceiptView):
            d.show(Screen.RECEIPT, replace(d.view, lines=(*d.view.lines, fault)))

    def _reprinted(self, outcome: str | Exception) -> None:
        d = self.desk
        if self.printer is None:
            d.message(d.t("No printer is set up on this terminal"))
            return
        text = outcome if isinstance(outcome, str) else str(outcome)[:200]
        d.message(text, error=text != d.t("Reprinted"))
