"""Points for an old receipt (backfill): the receipt as entered, the points it would
credit as the rules stood on its day, or why not (outside the rules' window) before
anything is sent; the hub refuses a receipt that already earned points."""

from __future__ import annotations

import datetime as dt
from typing import Final

from tapcard.clock import today as clock_today
from tapcard.domain import engine
from tapcard.domain.engine import SaleLine
from tapcard.ui import fmt
from terminal.presenters.desk import Desk
from terminal.presenters.sale import CATEGORIES, category_code, lines_total
from terminal.presenters.transactions import Kind, Transactions
from terminal.presenters.views import BackfillView, Screen

RECEIPT_NO_LEN_MAX: Final = 64

# The receipt as entered, or why it cannot be read (an English msgid).
Parsed = tuple[str, dt.date, list[SaleLine]] | str


class BackfillPresenter:
    def __init__(self, desk: Desk, transactions: Transactions) -> None:
        self.desk = desk
        self.transactions = transactions
        self.entry: tuple[str, str, str, str] = ("", "", CATEGORIES[0], "")

    def backfill_form(self) -> None:
        """An empty backfill screen for the card on the reader."""
        if self.desk.card_id() is not None and self.desk.guard():
            self.check_backfill("", "", CATEGORIES[0], "")

    def redraw(self) -> None:
        self.check_backfill(*self.entry)

    def check_backfill(
        self, receipt_no: str, date_text: str, category: str, amount: str
    ) -> BackfillView | None:
        """The receipt as entered and the points it would credit, or why it cannot."""
        d = self.desk
        if d.card_id() is None or not d.guard():
            return None
        category = category_code(d.t, category)
        self.entry = (receipt_no, date_text, category, amount)
        t, rules = d.t, d.port.rules
        lines = [
            t(
                "Receipts up to {days} days old earn points",
                days=rules.backfill_window_days if rules else 0,
            )
        ]
        parsed = _parsed(receipt_no, date_text, category, amount)
        can, refused = False, False
        if isinstance(parsed, str):
            refused = bool(receipt_no or date_text or amount)
            lines.append(t(parsed) if refused else t("Enter the receipt"))
        else:
            number, on, lines_ = parsed
            lines.append(t("Receipt {no} of {date}", no=number, date=on.isoformat()))
            lines.append(f"{t(category)}  {fmt.money(lines_total(lines_))}")
            # Without a rule set no receipt is inside a window (the window shows as 0 days).
            why_not = engine.backfill_error(rules, on, clock_today(d.wall)) if rules else "none"
            if why_not is not None:
                refused = True
                lines.append(t("Receipt outside the backfill window"))
            else:
                card = d.card
                assert card is not None and card.snapshot is not None
                quote = d.port.quote_sale(card.snapshot, lines_, on=on)
                lines.append(t("Points to credit: {points}", points=fmt.points(quote.points)))
                can = True
        view = BackfillView(d.header(), d.member_text(), tuple(lines), can, refused)
        d.show(Screen.BACKFILL, view)
        return view

    def submit_backfill(self, receipt_no: str, date_text: str, category: str, amount: str) -> None:
        """Check the entry again and, when it earns points, send it (the hub refuses a
        receipt that already earned points)."""
        category = category_code(self.desk.t, category)
        view = self.check_backfill(receipt_no, date_text, category, amount)
        if view is None or not view.can_submit:
            return
        parsed = _parsed(receipt_no, date_text, category, amount)
        assert not isinstance(parsed, str)
        self.backfill(parsed[0], parsed[1], category, amount)

    def backfill(self, receipt_no: str, receipt_on: dt.date, category: str, amount: str) -> None:
        d = self.desk
        card_id, cents = d.card_id(), fmt.parse_money(amount)
        if card_id is None or not d.guard():
            return
        if cents is None or cents <= 0 or not receipt_no.strip():
            d.message(d.t("Please check the entries"))
            return
        lines = [SaleLine(category, cents)]
        number = receipt_no.strip()
        self.transactions.submit(
            Kind.BACKFILL,
            lambda seen: d.port.backfill(
                card_id, number, receipt_on, lines, staff=d.staff_id(), seen=seen
            ),
        )


def _parsed(receipt_no: str, date_text: str, category: str, amount: str) -> Parsed:
    number, cents = receipt_no.strip(), fmt.parse_money(amount)
    try:
        on = dt.date.fromisoformat(date_text.strip())
    except ValueError:
        return "Receipt date as YYYY-MM-DD"
    if not number or len(number) > RECEIPT_NO_LEN_MAX or not number.isprintable():
        return "Please check the entries"
    if cents is None or cents <= 0 or category not in CATEGORIES:
        return "Please check the entries"
    return number, on, [SaleLine(category, cents)]
