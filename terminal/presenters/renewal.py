"""Renewing a card: the expiry now and after, the annual fee, paid in cash or from stored
value, or waived by a manager (online, at the hub, which books no fee and audits it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tapcard.clock import today as clock_today
from tapcard.domain import engine
from tapcard.domain.model import FeeKind, Payment
from tapcard.domain.tenders import Tendered, stored_value_cents
from tapcard.ui import fmt
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import tender_rows
from terminal.presenters.transactions import Kind, Printed, Transactions, tender_parts
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
        """Renew, the fee paid wholly by `payment` (cash or stored value)."""
        fee = self.fee_cents()
        self.renew_parts((Tendered(payment, fee),) if fee else ())

    def fee_cents(self) -> int:
        rules = self.desk.port.rules
        return engine.fee_cents(rules, FeeKind.ANNUAL) if rules is not None else 0

    def renewed_on(self) -> dt.date | None:
        """The card's expiry after a renewal today, when it has one."""
        d = self.desk
        rules, snap = d.port.rules, d.card.snapshot if d.card else None
        if rules is None or snap is None or snap.expires_on is None:
            return None
        return engine.renewed_expiry(rules, snap.expires_on, clock_today(d.wall))

    def confirm_lines(self, parts: Sequence[Tendered]) -> tuple[str, ...]:
        """What the confirmation shows: the expiry now and after, the fee, each tender
        with its reference, and the stored value now and after when it pays a part."""
        d, t = self.desk, self.desk.t
        snap = d.card.snapshot if d.card else None
        expires = snap.expires_on if snap is not None else None
        renewed = self.renewed_on()
        rows = [t("Valid until") + f": {fmt.date(expires, t.lang) if expires else '-'}"]
        if renewed is not None:
            rows[0] += f" \u2192 {fmt.date(renewed, t.lang)}"
        rows.append(t("Renewal fee") + f": {fmt.money(self.fee_cents())}")
        rows += [f"{label}: {amount}" for label, amount in tender_rows(t, parts)]
        stored = stored_value_cents(parts)
        if stored and snap is not None:
            have = snap.balances.stored_value_cents if snap.balances else 0
            rows.append(
                t("Stored value") + f": {fmt.money(have)} \u2192 {fmt.money(have - stored)}"
            )
            if have < stored:
                rows.append(t("Not enough stored value"))
        return tuple(rows)

    def renew_parts(self, parts: Sequence[Tendered]) -> None:
        """Renew, the fee paid by `parts` (one tender, or a split such as stored value
        and the rest by WeChat Pay), each recorded with its reference."""
        d = self.desk
        card_id = d.card_id()
        if card_id is None or not d.guard():
            return
        fee, renewed = self.fee_cents(), self.renewed_on()
        notes = ((d.t("Valid after renewal"), fmt.date(renewed, d.t.lang)),) if renewed else ()
        payment = parts[0].payment if parts else Payment.CASH
        split = len(parts) > 1 or any(p.ref for p in parts)
        op = m.Renewal(payment=payment, tenders=tender_parts(parts) if split else [])
        self.transactions.submit(
            Kind.RENEWAL,
            lambda seen: d.port.submit(card_id, op, staff=d.staff_id(), seen=seen),
            takings=tuple((f"fee_{p.payment.value}", p.cents) for p in parts) or None,
            printed=Printed(
                items=((d.t("Renewal fee"), fmt.money(fee)),),
                tenders=tender_rows(d.t, parts),
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
