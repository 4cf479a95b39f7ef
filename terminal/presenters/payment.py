"""Paying a sale by the other tenders, or split over several (the sale screen's
payment part): bank card, WeChat Pay or Alipay with the reference the cashier types or
scans from the provider's slip or app, and a split such as ¥50 from stored value and
the rest by WeChat Pay. Every sale shows its confirmation (the member, the amounts,
each tender) before it books. No payment integration: the terminal records the tenders.

The split is checked here as the hub checks it (tapcard.domain.tenders.split_error)
against the quote on screen, so a wrong split is a message before anything is queued;
the hub, which prices the sale itself, refuses any split that does not pay exactly what
it charges, and books nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import EXTERNAL_TENDERS, Payment
from tapcard.domain.tenders import TENDER_REF_CHARS_MAX, Tendered, split_error
from tapcard.ui import fmt
from tapcard.wire import messages as m
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import discount_rows, item_rows, offline_rows, tender_rows
from terminal.presenters.sale import SalePresenter
from terminal.presenters.transactions import Kind, Printed, Transactions

# What the screen asks for a provider's tender with no reference typed.
REF_MISSING: Final = "Type or scan the payment's reference"
SPLIT_WRONG: Final = "The tenders do not add up to the amount due"

# (tender, amount typed, reference): "" as the amount of one part pays the rest.
PartText = tuple[Payment, str, str]
# The sale's confirmation (ConfirmPresenter.sale): lines, quote, tenders, book, back.
AskSale = Callable[
    [Sequence[SaleLine], SaleQuote, Sequence[Tendered], Callable[[], None], Callable[[], None]],
    object,
]


class PaymentPresenter:
    def __init__(
        self, desk: Desk, sale: SalePresenter, transactions: Transactions, ask: AskSale
    ) -> None:
        self.desk, self.sale, self.transactions, self.ask = desk, sale, transactions, ask

    def pay(self, payment: Payment) -> None:
        """Pay cash / Pay stored value: the whole sale by that tender, once confirmed."""
        self.pay_split(((payment, "", ""),))

    def pay_tender(self, payment: Payment, ref: str = "", stored_text: str = "") -> None:
        """The sale by one tender with its reference; with `stored_text`, that much from
        stored value first and the rest by `payment`."""
        self.pay_split(typed_parts(payment, ref, stored_text, Payment.STORED_VALUE))

    def pay_split(self, texts: Sequence[PartText]) -> None:
        """The tenders checked, then the sale's confirmation; nothing is booked before
        its Confirm, and its Cancel goes back to the basket as it was."""
        d, t = self.desk, self.desk.t
        d.touch()
        quote = self.sale.quote
        card_id = d.card_id()
        if card_id is None or not d.guard() or not d.sale_lines or quote is None:
            return
        parts = split_parts(texts, quote.net_cents) if quote.net_cents else _nothing_due(texts)
        if isinstance(parts, str):
            d.message(t("Please check the entries"), t(parts))
            return
        # The card, basket and quote as shown: another card tapped meanwhile changes nothing.
        lines, paid = list(d.sale_lines), parts
        book = lambda: self._book(card_id, lines, quote, paid)  # noqa: E731
        self.ask(lines, quote, parts, book, self.sale.requote)

    def _book(
        self, card_id: str, lines: list[SaleLine], quote: SaleQuote, parts: tuple[Tendered, ...]
    ) -> None:
        d, t = self.desk, self.desk.t
        if len(parts) == 1 and not parts[0].ref and parts[0].payment not in EXTERNAL_TENDERS:
            self.sale.book(card_id, lines, quote, parts[0].payment)  # one tender: as before
            return
        op = m.Purchase(
            lines=lines,
            payment=parts[0].payment,
            tenders=[
                m.TenderPart(payment=p.payment, amount_cents=p.cents, ref=p.ref) for p in parts
            ],
        )
        self.transactions.submit(
            Kind.SALE,
            lambda seen: d.port.submit(card_id, op, staff=d.staff_id(), seen=seen),
            takings=tuple((f"sale_{p.payment.value}", p.cents) for p in parts),
            booked=d.sale_lines.clear,
            printed=Printed(
                items=item_rows(d, lines),
                tenders=tender_rows(t, parts),
                discounts=discount_rows(d, quote),
                offline=offline_rows(d, quote),
            ),
        )


def _nothing_due(texts: Sequence[PartText]) -> tuple[Tendered, ...]:
    """A sale discounted to nothing pays ¥0 by the tender pressed (cash for a provider's,
    which has no transaction to name), booked as one tender, as before tenders."""
    payment = texts[-1][0] if texts else Payment.CASH
    return (Tendered(Payment.CASH if payment in EXTERNAL_TENDERS else payment, 0),)


def typed_parts(payment: Payment, ref: str, part_text: str, part: Payment) -> list[PartText]:
    """The tender bar's entries (terminal/kv/tenders.kv): `part_text` of tender `part`
    (stored value; cash for a top-up) first when typed, the rest by `payment`."""
    parts: list[PartText] = []
    if part_text.strip():
        parts.append((part, part_text, ""))
    parts.append((payment, "", ref))
    return parts


def split_parts(texts: Sequence[PartText], due_cents: int) -> tuple[Tendered, ...] | str:
    """The tenders typed, the one without an amount taking the rest; or what is wrong
    (an English msgid)."""
    typed: list[Tendered | None] = []  # None: the part that pays the rest
    rest_of: list[tuple[Payment, str]] = []
    for payment, amount, ref_text in texts:
        ref = ref_text.strip()
        if payment in EXTERNAL_TENDERS and not 0 < len(ref) <= TENDER_REF_CHARS_MAX:
            return REF_MISSING
        if not amount.strip():
            typed.append(None)
            rest_of.append((payment, ref))
            continue
        cents = fmt.parse_money(amount)
        if cents is None or cents <= 0:
            return "Enter the amount in yuan"
        typed.append(Tendered(payment, cents, ref))
    if len(rest_of) > 1:
        return SPLIT_WRONG
    rest = due_cents - sum(p.cents for p in typed if p is not None)
    if rest < 0:
        return SPLIT_WRONG  # more than is due
    parts = tuple(
        p if p is not None else Tendered(rest_of[0][0], rest, rest_of[0][1])
        for p in typed
        if p is not None or rest  # a rest of nothing: that tender is not used
    )
    if not parts or split_error(parts, due_cents):
        return SPLIT_WRONG
    return parts
