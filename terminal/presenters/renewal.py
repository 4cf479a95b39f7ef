"""Renewing a card: the expiry now and after, the annual fee, paid in cash or from stored
value, or waived by a manager (online, at the hub, which books no fee and audits it)."""

from __future__ import annotations

from tapcard.clock import today as clock_today
from tapcard.domain import engine
from tapcard.domain.model import FeeKind, Payment
from tapcard.ui import fmt
from tapcard.wire import staff_messages as sm
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import TENDER_LABELS
from terminal.presenters.transactions import Kind, Printed, Transactions
from terminal.presenters.views import ReceiptView, RenewalView, Screen


class RenewalPresenter:
    def __init__(self, desk: Desk, transactions: Transactions) -> None:
        self.desk = desk
        self.transactions = transactions

    def renewal(self) -> RenewalView | None:
        """The renewal screen: valid until now and after, the fee, a choice of payment."""
        d = self.desk
        card_id, rules = d.card_id(), d.port.rules
        if card_id is None or rules is None or not d.guard():
            return None
        t, snap = d.t, d.card.snapshot if d.card else None
        assert snap is not None
        fee = engine.fee_cents(rules, FeeKind.ANNUAL)
        balance = snap.balances.stored_value_cents if snap.balances else 0
        lines = [t("Valid until") + f": {snap.expires_on or '-'}"]
        if snap.expires_on is not None:
            renewed = engine.renewed_expiry(rules, snap.expires_on, clock_today(d.wall))
            lines.append(t("Valid after renewal") + f": {renewed}")
        lines.append(t("Renewal fee") + f": {fmt.money(fee, rules.currency)}")
        lines.append(t("Stored value") + f": {fmt.money(balance, rules.currency)}")
        if balance < fee:
            lines.append(t("Not enough stored value"))
        view = RenewalView(
            d.header(), d.member_text(), tuple(lines), True, balance >= fee, d.manager()
        )
        d.show(Screen.RENEWAL, view)
        return view

    def renew(self, payment: Payment = Payment.CASH) -> None:
        d = self.desk
        card_id, rules = d.card_id(), d.port.rules
        if card_id is None or not d.guard():
            return
        fee = engine.fee_cents(rules, FeeKind.ANNUAL) if rules is not None else 0
        snap = d.card.snapshot if d.card else None
        notes: tuple[tuple[str, str], ...] = ()
        if rules is not None and snap is not None and snap.expires_on is not None:
            renewed = engine.renewed_expiry(rules, snap.expires_on, clock_today(d.wall))
            notes = ((d.t("Valid after renewal"), fmt.date(renewed, d.t.lang)),)
        self.transactions.submit(
            Kind.RENEWAL,
            lambda seen: d.port.renew(card_id, payment, staff=d.staff_id(), seen=seen),
            takings=(f"fee_{payment.value}", fee),
            printed=Printed(
                items=((d.t("Renewal fee"), fmt.money(fee)),),
                tenders=((d.t(TENDER_LABELS[payment]), fmt.money(fee)),),
                notes=notes,
            ),
        )

    def renew_waived(self) -> None:
        """Renew with the annual fee waived: a manager, online (the hub books no fee and
        audits the waiver)."""
        d = self.desk
        card_id = d.card_id()
        if card_id is None or not d.guard():
            return
        d.ask_hub(sm.RenewWaived(card_id=card_id), self._renewed_waived)

    def _renewed_waived(self, reply: sm.StaffReply) -> None:
        d, t = self.desk, self.desk.t
        d.shift.counts["renewal"] += 1
        d.shift.counts["fee_waived"] += 1
        rows = (
            t("Staff") + f": {d.staff_id()}",
            t("Card") + f": {reply.card_id}",
            t("Valid until") + f": {reply.expires_on}",
            t("Fee waived"),
        )
        d.show(Screen.RECEIPT, ReceiptView(d.header(), t("Renewal"), rows))
        d.refresh_card()
