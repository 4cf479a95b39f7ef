"""Ringing up a sale: lines by category, the engine's quote for the member on the reader
(member price, tier discount, campaigns, points), and payment in cash or stored value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import Payment
from tapcard.errors import TapcardError
from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import TENDER_LABELS, item_rows
from terminal.presenters.transactions import Kind, Printed, Transactions
from terminal.presenters.views import SaleView, Screen

SALE_LINES_SHOWN_MAX: Final = 12
CATEGORIES: Final = ("grocery", "fuel", "car_wash", "service", "group_buy", "special_offer")


def lines_total(lines: Sequence[SaleLine]) -> int:
    return sum(line.unit_price_cents * line.quantity for line in lines)


def category_code(t: Translator, text: str) -> str:
    """The category for a picker entry (a label in either language, or the code)."""
    for code in CATEGORIES:
        if text in (code, t(code), Translator("en")(code)):
            return code
    return text


class SalePresenter:
    def __init__(self, desk: Desk, transactions: Transactions) -> None:
        self.desk = desk
        self.transactions = transactions
        self.quote: SaleQuote | None = None

    def sale(self) -> None:
        if self.desk.guard():
            self.requote()

    def category_labels(self) -> list[str]:
        """The category picker's entries, in the current language."""
        return [self.desk.t(code) for code in CATEGORIES]

    def category_code(self, text: str) -> str:
        return category_code(self.desk.t, text)

    def add_line(self, category: str, amount_text: str, quantity: int = 1) -> None:
        d = self.desk
        d.touch()
        category = self.category_code(category)
        cents = fmt.parse_money(amount_text)
        if cents is None or cents <= 0 or category not in CATEGORIES:
            d.message(d.t("Please check the entries"))
            return
        if len(d.sale_lines) < SALE_LINES_SHOWN_MAX:
            d.sale_lines.append(SaleLine(category, cents, quantity))
        self.requote()

    def clear_sale(self) -> None:
        self.desk.sale_lines.clear()
        self.requote()

    def requote(self) -> None:
        d = self.desk
        t, card, lines = d.t, d.card, d.sale_lines
        self.quote = None
        if lines and card is not None and card.snapshot is not None and card.snapshot.found:
            try:
                self.quote = d.port.quote_sale(card.snapshot, lines)
            except TapcardError:
                self.quote = None
        shown = tuple(
            f"{t(line.category)}  {fmt.money(line.unit_price_cents)} \u00d7 {line.quantity}"
            for line in lines
        )
        can_pay = bool(self.quote and card)
        d.show(Screen.SALE, SaleView(d.header(), shown, self._totals(), can_pay))

    def _totals(self) -> tuple[str, ...]:
        t, q = self.desk.t, self.quote
        if q is None:
            gross = lines_total(self.desk.sale_lines)
            return (t("Total") + f" {fmt.money(gross)}", t("Tap the member's card"))
        rows = [t("Retail") + f" {fmt.money(q.gross_cents)}"]
        if q.member_price_saving_cents:
            rows.append(t("Member price") + f" -{fmt.money(q.member_price_saving_cents)}")
        if q.tier_discount_cents:
            rows.append(t("Tier discount") + f" -{fmt.money(q.tier_discount_cents)}")
        for code, off in q.campaign_offs:
            rows.append(t("Campaign") + f" {code} -{fmt.money(off)}")
        rows.append(t("To pay") + f" {fmt.money(q.net_cents)}")
        rows.append(t("Points to earn") + f" {q.points}")
        if q.remainder_cents:
            rows.append(t("Remainder earning nothing") + f" {fmt.money(q.remainder_cents)}")
        if q.excluded_cents:
            rows.append(t("Excluded from points") + f" {fmt.money(q.excluded_cents)}")
        return tuple(rows)

    def pay(self, payment: Payment) -> None:
        d = self.desk
        card_id = d.card_id()
        if card_id is None or not d.guard() or not d.sale_lines or self.quote is None:
            return
        lines, quote = list(d.sale_lines), self.quote
        self.transactions.submit(
            Kind.SALE,
            lambda seen: d.port.purchase(card_id, lines, payment, staff=d.staff_id(), seen=seen),
            takings=(f"sale_{payment.value}", quote.net_cents),
            booked=d.sale_lines.clear,
            printed=Printed(
                items=item_rows(d, lines),
                tenders=((d.t(TENDER_LABELS[payment]), fmt.money(quote.net_cents)),),
            ),
        )
