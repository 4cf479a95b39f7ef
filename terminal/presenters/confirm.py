"""A confirmation before every counter action that moves money, points or card state:
a sale, top-up, stored-value spend, a redemption (parking by the hour, with the hours chosen
here; a car wash), reporting a card lost (whose card it is, asked of the hub first) and
a points reversal. The screen names the member and shows the amounts in yuan and points,
now and after; only its Confirm button does the action, through the presenter that
always did it. Nothing is pending after a lock or a sign-out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import Payment
from tapcard.domain.tenders import Tendered
from tapcard.ui import fmt, refusals
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from terminal.presenters.cards import CardsPresenter
from terminal.presenters.desk import Desk
from terminal.presenters.payment import split_parts, typed_parts
from terminal.presenters.receipts import tender_rows
from terminal.presenters.renewal import RenewalPresenter
from terminal.presenters.reversal import REASON_LEN_MIN, ReversalPresenter
from terminal.presenters.sale_confirm import sale_lines
from terminal.presenters.transactions import Transactions
from terminal.presenters.views import ConfirmView, Screen

TOPUP: Final = "topup"  # the tender bar's target on the top-up's confirmation

# The screen's lines for the units chosen (parking hours; 1 for everything else).
Lines = Callable[[int], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Pending:
    """The action the Confirm button does, with what the screen shows of it."""

    title: str  # a msgid: translated at each redraw, as the lines are
    member: str
    lines: Lines
    act: Callable[[int], None]
    units: int = 0
    units_max: int = 0
    tenders: str = ""  # the tender bar's target on this screen ("topup"), "" for none
    due_cents: int = 0  # what the tender bar's parts pay
    note: str = ""  # why the tenders typed cannot pay it, shown below the lines
    back: Callable[[], None] | None = None  # where Cancel goes (the sale: its basket)


class ConfirmPresenter:
    def __init__(
        self,
        desk: Desk,
        transactions: Transactions,
        cards: CardsPresenter,
        reversals: ReversalPresenter,
        renewals: RenewalPresenter,
    ) -> None:
        self.desk, self.tx, self.cards, self.reversals = desk, transactions, cards, reversals
        self.renewals = renewals
        self.pending: Pending | None = None
        desk.redraws[Screen.CONFIRM] = self.redraw
        desk.on_sign_out.append(self.forget)

    # --- what the screen does ----------------------------------------------------------

    def redraw(self) -> ConfirmView | None:
        p, d = self.pending, self.desk
        if p is None:
            d.home()
            return None
        lines = p.lines(max(p.units, 1)) + ((p.note,) if p.note else ())
        view = ConfirmView(
            d.header(), d.t(p.title), p.member, lines, p.units, p.units_max, p.tenders, p.note
        )
        d.show(Screen.CONFIRM, view)
        return view

    def more(self, step: int) -> ConfirmView | None:
        """One hour more (step 1) or less (-1), between 1 and the rules' most."""
        p = self.pending
        if p is None or not self.desk.guard() or not p.units_max:
            return None
        self.pending = replace(p, units=min(max(p.units + step, 1), p.units_max))
        return self.redraw()

    def confirm(self) -> None:
        p, self.pending = self.pending, None
        if p is not None and self.desk.guard():
            p.act(max(p.units, 1))

    def cancel(self) -> None:
        p, self.pending = self.pending, None
        (p.back if p is not None and p.back is not None else self.desk.home)()

    def forget(self) -> None:
        self.pending = None

    def _ask(self, pending: Pending) -> ConfirmView | None:
        self.pending = pending
        return self.redraw()

    # --- what asks -----------------------------------------------------------------------

    def top_up(self, amount_text: str) -> ConfirmView | None:
        """The top-up's confirmation, paid in cash until another tender is pressed on it."""
        snap = self._snapshot()
        cents = self._cents(amount_text) if snap is not None else None
        if snap is None or cents is None:
            return None
        return self._top_up(snap, cents, (Tendered(Payment.CASH, cents),))

    def top_up_tenders(self, payment: Payment, ref: str, cash_text: str) -> ConfirmView | None:
        """The tender bar on the top-up's confirmation: `payment` with its reference,
        after `cash_text` in cash when typed (stored value never pays a top-up)."""
        p, d = self.pending, self.desk
        snap = self._snapshot()
        if p is None or p.tenders != TOPUP or snap is None:
            return None
        parts = split_parts(typed_parts(payment, ref, cash_text, Payment.CASH), p.due_cents)
        if isinstance(parts, str):
            return self._ask(replace(p, note=d.t(parts)))
        return self._top_up(snap, p.due_cents, parts)

    def _top_up(
        self, snap: m.Snapshot, cents: int, parts: tuple[Tendered, ...]
    ) -> ConfirmView | None:
        t = self.desk.t
        have = _balances(snap).stored_value_cents

        def lines(_units: int) -> tuple[str, ...]:
            rows = [t("Top-up") + f": {fmt.money(cents)}"]
            rows += [f"{label}: {amount}" for label, amount in tender_rows(t, parts)]
            rows.append(t("Stored value") + f": {fmt.money(have)} \u2192 {fmt.money(have + cents)}")
            return tuple(rows)

        act = lambda _u: self.tx.top_up_parts(cents, parts)  # noqa: E731
        pending = Pending(
            "Confirm top-up", self._member(snap), lines, act, tenders=TOPUP, due_cents=cents
        )
        return self._ask(pending)

    def spend(self, amount_text: str) -> ConfirmView | None:
        t = self.desk.t
        snap = self._snapshot()
        cents = self._cents(amount_text) if snap is not None else None
        if snap is None or cents is None:
            return None
        have = _balances(snap).stored_value_cents
        after = have - cents

        def lines(_units: int) -> tuple[str, ...]:
            rows = [
                t("Spend") + f": {fmt.money(cents)}",
                t("Stored value") + f": {fmt.money(have)} \u2192 {fmt.money(after)}",
            ]
            if after < 0:
                rows.append(t("Not enough stored value"))
            return tuple(rows)

        title = "Confirm stored-value payment"
        act = lambda _u: self.tx.spend(amount_text)  # noqa: E731
        return self._ask(Pending(title, self._member(snap), lines, act))

    def renew(self, payment: Payment, ref: str = "", part_text: str = "") -> ConfirmView | None:
        """The renewal's confirmation: the fee by `payment` (with its reference), after
        `part_text` from stored value when typed (the renewal screen's tender bar)."""
        d, t = self.desk, self.desk.t
        snap = self._snapshot()
        if snap is None:
            return None
        fee = self.renewals.fee_cents()
        parts: tuple[Tendered, ...] | str = ()
        if fee:
            texts = typed_parts(payment, ref, part_text, Payment.STORED_VALUE)
            parts = split_parts(texts, fee)
        if isinstance(parts, str):
            d.message(t("Please check the entries"), t(parts))
            return None
        paid = parts

        def lines(_units: int) -> tuple[str, ...]:
            return self.renewals.confirm_lines(paid)

        act = lambda _u: self.renewals.renew_parts(paid)  # noqa: E731
        return self._ask(Pending("Confirm renewal", self._member(snap), lines, act))

    def sale(
        self,
        lines: Sequence[SaleLine],
        quote: SaleQuote,
        parts: Sequence[Tendered],
        book: Callable[[], None],
        back: Callable[[], None],
    ) -> ConfirmView | None:
        """The sale's confirmation: `book` books it as typed; Cancel goes `back` to the
        basket, which stays as it was."""
        snap = self._snapshot()
        if snap is None:
            return None
        have = _balances(snap).stored_value_cents

        def shown(_units: int) -> tuple[str, ...]:  # in the language of each redraw
            return sale_lines(self.desk, lines, quote, parts, have)

        member = self._member(snap)
        pending = Pending("Confirm sale", member, shown, lambda _u: book(), back=back)
        return self._ask(pending)

    def tag(self, tag: str, remove: bool, send: Callable[[], None]) -> ConfirmView | None:
        """A tag added to (or taken off) the member on the reader: `send` asks the hub."""
        snap = self._snapshot()
        if snap is None:
            return None
        title = "Remove this tag?" if remove else "Add this tag?"
        what = "The tag is taken off the member." if remove else "The tag is added to the member."

        def shown(_units: int) -> tuple[str, ...]:
            t = self.desk.t
            return (t("Tag") + f": {tag}", t(what))

        return self._ask(Pending(title, self._member(snap), shown, lambda _u: send()))

    def _cents(self, amount_text: str) -> int | None:
        d, t = self.desk, self.desk.t
        cents = fmt.parse_money(amount_text)
        if cents is None or cents <= 0:
            d.message(t("Please check the entries"), t("Enter the amount in yuan"))
            return None
        return cents

    def redeem(self, item_code: str) -> ConfirmView | None:
        """A reward for points; parking by the hour lets the cashier choose the hours."""
        d, t = self.desk, self.desk.t
        snap = self._snapshot()
        if snap is None:
            return None
        rules = d.port.rules
        item = rules.catalog_item(item_code) if rules is not None else None
        if item is None:
            d.message(t("Sorry, this cannot be done here"), t("This reward is not offered"))
            return None
        have = _balances(snap).points

        def lines(units: int) -> tuple[str, ...]:
            cost = item.points * units
            rows = [
                f"{t(item.name)} \u00d7 {units}",
                t("Points") + f": {fmt.points(have)} \u2192 {fmt.points(have - cost)}",
            ]
            if cost > have:
                rows.append(t("Not enough points"))
            return tuple(rows)

        hourly = item.units_max > 1
        pending = Pending(
            "Confirm redemption",
            self._member(snap),
            lines,
            lambda units: self.tx.redeem(item_code, units),
            units=1 if hourly else 0,
            units_max=item.units_max if hourly else 0,
        )
        return self._ask(pending)

    def report_lost(self, card_text: str) -> None:
        """Whose card it is first (the hub's member search), then the confirmation."""
        d = self.desk
        card_id = card_text.strip().upper() or (d.card.tap.card_id if d.card else "")
        if not d.guard():
            return
        if not card_id:
            d.message(d.t("Enter the card number or tap the card"))
            return
        d.ask_hub(sm.MemberSearch(text=card_id[:64]), lambda r: self._owner(card_id, r))

    def _owner(self, card_id: str, reply: sm.StaffReply) -> None:
        d, t = self.desk, self.desk.t
        # A row names each card as "id:state" (hub/staff.py).
        owner = next(
            (r for r in reply.members if card_id in (c.partition(":")[0] for c in r.cards)),
            None,
        )
        if owner is None:
            d.message(t("Not found"), card_id)
            return
        member = f"#{owner.member_id} {owner.name} · {owner.phone}"

        def lines(_units: int) -> tuple[str, ...]:
            return (
                t("Card") + f": {card_id}",
                t("The card is blocked at once and cannot be used again."),
            )

        pending = Pending(
            "Report this card lost?", member, lines, lambda _u: self.cards.report_lost(card_id)
        )
        self._ask(pending)

    def reverse(self, ref: str, reason: str) -> ConfirmView | None:
        d, t = self.desk, self.desk.t
        ref, reason = ref.strip(), reason.strip()
        if not d.guard():
            return None
        if len(ref) < REASON_LEN_MIN or len(reason) < REASON_LEN_MIN:
            d.message(t("Please check the entries"), t("Reason (at least 3 characters)"))
            return None

        def lines(_units: int) -> tuple[str, ...]:
            return (
                t("Reference: {ref}", ref=ref),
                t("Reason") + f": {reason}",
                t("The points this transfer earned are taken back."),
            )

        act = lambda _u: self.reversals.reverse(ref, reason)  # noqa: E731
        return self._ask(Pending("Reverse points?", "", lines, act))

    # --- the member on the reader ------------------------------------------------------

    def _snapshot(self) -> m.Snapshot | None:
        d = self.desk
        if not d.guard() or d.card_id() is None:
            return None
        card = d.card
        assert card is not None and card.snapshot is not None
        if not card.snapshot.found:
            d.message(d.t(refusals.title(refusals.Refusal.UNKNOWN)))
            return None
        return card.snapshot

    def _member(self, snap: m.Snapshot) -> str:
        return f"{snap.member_name_masked} · {snap.card_id}"


def _balances(snap: m.Snapshot) -> m.Balances:
    return snap.balances or m.Balances(points=0, growth=0, stored_value_cents=0)
