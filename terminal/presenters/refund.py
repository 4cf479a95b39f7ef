"""Refunds at the counter: find the sale by its receipt reference or transfer id (the
hub's `SaleLookup`), pick the lines and quantities that come back (or all), give a
reason, see the member and the amounts, then send the `Refund` intent.

The lookup needs the hub: offline the screen says so and looks nothing up. A sale found
before the link went down can still be sent; the runtime then decides as for any intent
(it queues a cash refund and refuses to give stored value back offline). What the
confirmation shows is the hub's own quote (`RefundQuote`, priced by the sale's own
rules as the refund will be) when online; until it comes, and offline, the terminal's
reckoning, pro rata of what the sale paid and earned, marked ≈. Everything entered is
forgotten after a refund and when the terminal locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from tapcard.device.port import LocalReceipt, Outcome, settle
from tapcard.domain.rules import RuleSet
from tapcard.receipts.content import Printout
from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from tapcard.ui.refusals import counter_detail, counter_title
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.codes import Reason
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import ReceiptPrinter
from terminal.presenters.transactions import RESULT_WAIT_S, reference
from terminal.presenters.views import (
    ReceiptView,
    RefundConfirmView,
    RefundRow,
    RefundView,
    Screen,
)

REF_LEN_MIN: Final = 3
REF_LEN_MAX: Final = 64
REASON_LEN_MIN: Final = 3
REASON_LEN_MAX: Final = 200
REFUND_ROWS_SHOWN_MAX: Final = 50  # a longer sale is refunded whole ("All")
OFFLINE_LOOKUP: Final = "Offline: the sale cannot be looked up now. Try again when online."
# The hub's staff-reply errors to a lookup, as the screen says them.
REFUND_ERRORS: Final[Mapping[str, str]] = {
    "not_found": "No sale has this receipt or reference",
    "conflict": "This cannot be refunded",
    "invalid": "Please check the entries",
}
REDEEM: Final = "redeem"
# How the money goes back, by the sale's payment (a cash sale, or any other, in cash).
PAID_BACK: Final[Mapping[str, str]] = {
    "stored_value": "To the card's stored value",
    "cash": "Paid out in cash",
}


Picked = tuple[tuple[int, int], ...]  # (line_no, quantity back), as a refund names them


@dataclass(slots=True)
class Draft:
    """What the cashier has entered so far; cleared after a refund and on lock."""

    ref: str = ""
    reason: str = ""
    sale: sm.SaleView | None = None
    picked: dict[int, int] = field(default_factory=dict)  # line_no -> quantity back
    note: str = ""  # a msgid: why no sale shows (offline, not found, not refundable)
    sending: bool = False  # confirmed and on its way: a second press sends nothing
    # The hub's exact figures (RefundQuote) for the lines picked when it was asked.
    quote: tuple[Picked, sm.RefundQuoteView] | None = None

    def clear(self) -> None:
        self.ref, self.reason, self.sale, self.note = "", "", None, ""
        self.picked.clear()
        self.sending, self.quote = False, None


@dataclass(frozen=True, slots=True)
class Reckoning:
    """What the refund gives back, as the terminal reckons it before sending."""

    cents: int  # money back to the member
    points: int  # points taken back (a purchase) or restored (a redemption)
    exact: bool  # False: a pro rata share; the hub's own figures may differ a little


def left(line: sm.SaleLineView) -> int:
    return max(0, line.quantity - line.refunded)


def reckon(sale: sm.SaleView, picked: Mapping[int, int]) -> Reckoning:
    """Money and points of the picked quantities, pro rata of the sale's gross."""
    if sale.kind == REDEEM:
        return Reckoning(0, sale.points_earned, True)
    gross = sum(x.unit_price_cents * x.quantity for x in sale.lines)
    back = sum(x.unit_price_cents * picked.get(x.line_no, 0) for x in sale.lines)
    everything = all(picked.get(x.line_no, 0) == left(x) for x in sale.lines)
    if gross <= 0:
        return Reckoning(0, 0, everything)
    # All that is left: exactly what was paid and not yet given back.
    cents = sale.net_cents - sale.refunded_cents if everything else sale.net_cents * back // gross
    nothing_before = all(x.refunded == 0 for x in sale.lines)
    return Reckoning(cents, sale.points_earned * back // gross, everything and nothing_before)


def line_label(t: Translator, line: sm.SaleLineView) -> str:
    text = f"{t(line.category)}  {fmt.money(line.unit_price_cents)} \u00d7 {line.quantity}"
    if line.refunded:
        text += " · " + t("refunded {n}", n=line.refunded)
    return text


def redeemed(t: Translator, sale: sm.SaleView, rules: RuleSet | None) -> str:
    item = rules.catalog_item(sale.item) if rules is not None else None
    name, points = t(item.name) if item else sale.item, fmt.points(sale.points_earned)
    return t("Redeemed {n} of {item} for {points} points", n=sale.units, item=name, points=points)


class RefundPresenter:
    def __init__(self, desk: Desk, receipts: ReceiptPrinter | None = None) -> None:
        self.desk = desk
        self.receipts = receipts  # prints the refund's receipt and keeps it for a reprint
        self.draft = Draft()
        desk.on_sign_out.append(self.draft.clear)

    # --- the form ------------------------------------------------------------------------

    def refund_form(self) -> RefundView | None:
        """The refund screen as it stands (empty at first)."""
        d = self.desk
        if not d.guard():
            return None
        view = self._form()
        d.show(Screen.REFUND, view)
        return view

    def start_refund(self) -> RefundView | None:
        """From the home screen: a fresh form, starting from the last receipt's reference."""
        self.draft.clear()
        receipt = self.desk.last_receipt
        self.draft.ref = reference(receipt) if receipt is not None else ""
        return self.refund_form()

    def _form(self) -> RefundView:
        d, t, draft, sale = self.desk, self.desk.t, self.draft, self.draft.sale
        online = d.port.is_online()
        note = draft.note or ("" if online or sale is not None else OFFLINE_LOOKUP)
        rows: tuple[RefundRow, ...] = ()
        summary: tuple[str, ...] = (t(note),) if note else ()
        can_pick = False
        if sale is not None:
            summary = (*self._summary(sale), *summary)
            can_pick = sale.refundable
            rows = tuple(
                RefundRow(x.line_no, line_label(t, x), draft.picked.get(x.line_no, 0), left(x))
                for x in sale.lines[:REFUND_ROWS_SHOWN_MAX]
            )
        return RefundView(
            header=d.header(),
            ref=draft.ref,
            reason=draft.reason,
            sale=summary,
            rows=rows,
            can_lookup=online,
            can_pick=can_pick,
            can_review=can_pick and self._something_picked(),
            warn=bool(note) or (sale is not None and not sale.refundable),
        )

    def _summary(self, sale: sm.SaleView) -> tuple[str, ...]:
        t = self.desk.t
        if sale.kind == REDEEM:
            what = redeemed(t, sale, self.desk.port.rules)
        else:
            paid = t(sale.payment) if sale.payment else ""
            what = t("Paid") + f" {fmt.money(sale.net_cents)} {paid}".rstrip()
        rows = [
            f"{sale.member_name_masked} · " + t("Card") + f" {sale.card_id}",
            t("Sold") + f" {fmt.clock(sale.created_ms)} · {what}",
            sale.tx_id,  # in full: ids made close together share their first digits
        ]
        if sale.refunded_cents:
            rows.append(t("Refunded before") + f" {fmt.money(sale.refunded_cents)}")
        if not sale.refundable:
            rows.append(t(sale.why_not) if sale.why_not else t("This cannot be refunded"))
        return tuple(rows)

    def _something_picked(self) -> bool:
        sale = self.draft.sale
        if sale is None or not sale.refundable:
            return False
        if not sale.lines:  # a redemption comes back whole
            return True
        return any(q > 0 for q in self.draft.picked.values())

    # --- what the fields and buttons call -----------------------------------------------

    def refund_ref(self, text: str) -> None:
        """The reference field as typed or scanned (no redraw)."""
        self.desk.touch()
        self.draft.ref = text.strip()[:REF_LEN_MAX]

    def refund_reason(self, text: str) -> None:
        """The reason field as typed (no redraw)."""
        self.desk.touch()
        self.draft.reason = text[:REASON_LEN_MAX]

    def look_up(self, ref: str | None = None) -> None:
        """Ask the hub what the sale `ref` still has to refund."""
        d, draft = self.desk, self.draft
        if not d.guard():
            return
        if ref is not None:
            self.refund_ref(ref)
        draft.sale, draft.note = None, ""
        draft.picked.clear()
        if not d.port.is_online():
            draft.note = OFFLINE_LOOKUP
        elif len(draft.ref) < REF_LEN_MIN:
            draft.note = "Please check the entries"
        else:
            d.ask_hub(sm.SaleLookup(ref=draft.ref), self._found, errors=REFUND_ERRORS)
            return
        self.refund_form()

    def _found(self, reply: sm.StaffReply) -> None:
        self.draft.sale = reply.sale
        self.draft.note = "" if reply.sale is not None else REFUND_ERRORS["not_found"]
        self.refund_form()

    def pick(self, line_no: int, delta: int) -> None:
        """One more (or one fewer) of a line back, within what is still refundable."""
        sale = self.draft.sale
        line = next((x for x in sale.lines if x.line_no == line_no), None) if sale else None
        if line is not None:
            now = self.draft.picked.get(line_no, 0)
            self.draft.picked[line_no] = min(left(line), max(0, now + delta))
        self.refund_form()

    def pick_all(self) -> None:
        sale = self.draft.sale
        if sale is not None:
            self.draft.picked = {x.line_no: left(x) for x in sale.lines}
        self.refund_form()

    def review(self, reason: str | None = None) -> RefundConfirmView | None:
        """The confirmation: the member, what comes back, the money and points."""
        d, t, draft = self.desk, self.desk.t, self.draft
        if not d.guard():
            return None
        if reason is not None:
            self.refund_reason(reason)
        sale = draft.sale
        if sale is None or not self._something_picked():
            self.refund_form()
            return None
        if len(draft.reason.strip()) < REASON_LEN_MIN:
            d.message(t("Please give a reason (at least 3 characters)"))
            return None
        picked = self._picked_lines(sale)
        lines = tuple(f"{line_label(t, x)}  \u2192 " + t("back: {n}", n=q) for x, q in picked) or (
            redeemed(t, sale, self.desk.port.rules),
        )
        key = tuple((x.line_no, q) for x, q in picked)
        estimate = reckon(sale, draft.picked)
        quote = draft.quote[1] if draft.quote and draft.quote[0] == key else None
        view = RefundConfirmView(
            d.header(),
            f"{sale.member_name_masked} · " + t("Card") + f" {sale.card_id}",
            (*lines, t("Reason") + f": {draft.reason.strip()}"),
            self._totals(sale, estimate) if quote is None else self._quoted(sale, quote),
        )
        d.show(Screen.REFUND_CONFIRM, view)
        if quote is None and not estimate.exact and d.port.is_online():
            self._ask_quote(sale, key)
        return view

    def _ask_quote(self, sale: sm.SaleView, key: Picked) -> None:
        """The hub's exact figures; the estimate stays on screen until they come, and
        when the hub cannot give them."""
        lines = [m.RefundLine(line_no=n, quantity=q) for n, q in key]

        def quoted(reply: sm.StaffReply) -> None:
            if reply.quote is None or self.draft.sale is not sale:
                return
            self.draft.quote = (key, reply.quote)
            if self.desk.screen is Screen.REFUND_CONFIRM:
                self.review()

        keep = {error: (lambda _reply: None) for error in REFUND_ERRORS}
        op = sm.RefundQuote(ref=sale.tx_id, lines=lines)
        self.desk.ask_hub(op, quoted, errors=REFUND_ERRORS, on_refused=keep)

    def _quoted(self, sale: sm.SaleView, quote: sm.RefundQuoteView) -> tuple[str, ...]:
        t = self.desk.t
        how = PAID_BACK.get(quote.payment or sale.payment, PAID_BACK["cash"])
        rows = [t("Money back") + f": {fmt.money(quote.money_cents)}", t(how)]
        return (*rows, t("Points taken back") + f": {fmt.points(quote.points)}")

    def _picked_lines(self, sale: sm.SaleView) -> list[tuple[sm.SaleLineView, int]]:
        picked = self.draft.picked
        return [(x, picked[x.line_no]) for x in sale.lines if picked.get(x.line_no, 0) > 0]

    def _totals(self, sale: sm.SaleView, r: Reckoning) -> tuple[str, ...]:
        t = self.desk.t
        about = "" if r.exact else "\u2248 "
        if sale.kind == REDEEM:
            return (t("Points restored") + f": {fmt.points(r.points)}",)
        how = PAID_BACK.get(sale.payment, PAID_BACK["cash"])
        rows = [t("Money back") + f": {about}{fmt.money(r.cents)}", t(how)]
        rows.append(t("Points taken back") + f": {about}{fmt.points(r.points)}")
        if not r.exact:
            rows.append(t("HQ works out the exact figures; the receipt shows them"))
        return tuple(rows)

    # --- sending ----------------------------------------------------------------------

    def confirm_refund(self) -> None:
        """Send the refund confirmed on screen through the runtime (outbox, hub)."""
        d, draft = self.desk, self.draft
        sale = draft.sale
        if not d.guard() or sale is None or draft.sending or not self._something_picked():
            return
        draft.sending = True
        lines = [m.RefundLine(line_no=x.line_no, quantity=q) for x, q in self._picked_lines(sale)]
        reason, card_id, staff = draft.reason.strip(), sale.card_id, d.staff_id()
        card = d.card
        seen = card.seen if card is not None and card.tap.card_id == card_id else None

        def job() -> Outcome:
            op = m.Refund(ref=sale.tx_id, lines=lines, reason=reason)
            receipt = d.port.refund(card_id, op, staff=staff, seen=seen)
            return settle(d.port, receipt, RESULT_WAIT_S)

        d.worker.submit(job, lambda outcome: self._refunded(sale, outcome))

    def _refunded(self, sale: sm.SaleView, outcome: Outcome | Exception) -> None:
        d, t = self.desk, self.desk.t
        self.draft.sending = False
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
        given = result.net_cents if result is not None else 0
        kind = "refund_stored_value" if sale.payment == "stored_value" else "refund_cash"
        d.shift.book("refund", (kind, given) if given else None, 0)
        items = self._printed_items(sale)
        self.draft.clear()
        d.last_receipt = receipt
        view = ReceiptView(d.header(), t("Refund"), self._receipt_lines(sale, receipt, result))
        d.show(Screen.RECEIPT, view)
        if self.receipts is not None:
            self.receipts.issue(self._printout(sale, receipt, result, items))
        d.refresh_card()

    def _printed_items(self, sale: sm.SaleView) -> tuple[tuple[str, str], ...]:
        t = self.desk.t
        if sale.kind == REDEEM:
            return ((redeemed(t, sale, self.desk.port.rules), ""),)
        return tuple(
            (f"{t(x.category)} \u00d7 {q}", fmt.money(x.unit_price_cents * q))
            for x, q in self._picked_lines(sale)
        )

    def _printout(
        self,
        sale: sm.SaleView,
        receipt: LocalReceipt,
        result: m.TxResult | None,
        items: tuple[tuple[str, str], ...],
    ) -> Printout:
        """The refund's receipt: what came back, the money and how, the points, the
        balances after, the sale it refunds and its own reference."""
        t = self.desk.t
        assert self.receipts is not None
        totals: list[tuple[str, str]] = []
        if result is not None and sale.kind == REDEEM:
            totals.append((t("Points restored"), fmt.points(result.points_earned)))
        elif result is not None:
            how = PAID_BACK.get(sale.payment, PAID_BACK["cash"])
            totals += [(t("Money back"), fmt.money(result.net_cents)), (t(how), "")]
            totals.append((t("Points taken back"), fmt.points(result.points_spent)))
        if result is not None:
            totals += self.receipts.balances(result)
        before = (t("Refund of {ref}", ref=sale.tx_id),)
        title = t("Refund")
        return self.receipts.compose(
            title, receipt, result, items, tuple(totals), "refund", before=before
        )

    def _receipt_lines(
        self, sale: sm.SaleView, receipt: LocalReceipt, result: m.TxResult | None
    ) -> tuple[str, ...]:
        t = self.desk.t
        rows = [
            t("Staff") + f": {self.desk.staff_name()}",
            t("Card") + f": {sale.card_id}",
            t("Refund of {ref}", ref=sale.tx_id),
        ]
        if result is None:
            rows.append(t("Queued offline: sent when the hub is back"))
        elif sale.kind == REDEEM:
            rows.append(t("Points restored") + f": {fmt.points(result.points_earned)}")
        else:
            rows.append(t("Money back") + f": {fmt.money(result.net_cents)}")
            rows.append(t(PAID_BACK.get(sale.payment, PAID_BACK["cash"])))
            rows.append(t("Points taken back") + f": {fmt.points(result.points_spent)}")
        if result is not None and result.balances is not None:
            b = result.balances
            rows.append(
                t("Points")
                + f" {fmt.points(b.points)} · "
                + t("Stored value")
                + f" {fmt.money(b.stored_value_cents)}"
            )
        rows.append(t("Reference: {ref}", ref=reference(receipt)))
        return tuple(rows)
