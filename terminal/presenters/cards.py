"""Members and cards, at the hub over the staff channel: search, registration with a new
card, lost card, replacement (a manager may waive the fee). A new card is a blank one on
the reader: the terminal sends its UID (and the chip's public key), the hub signs the
credential for it, and the terminal writes it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tapcard.domain.model import Payment
from tapcard.ui import fmt
from tapcard.wire import staff_messages as sm
from terminal.presenters.desk import Desk
from terminal.presenters.views import MembersView, Screen


class CardsPresenter:
    def __init__(
        self, desk: Desk, on_duplicate: Callable[[sm.StaffReply], None] | None = None
    ) -> None:
        self.desk = desk
        self.on_duplicate = on_duplicate  # a registration of someone already a member

    def search(self, text: str) -> None:
        if not self.desk.guard() or not text.strip():
            return
        self.desk.ask_hub(sm.MemberSearch(text=text.strip()[:64]), self._found)

    def _found(self, reply: sm.StaffReply) -> None:
        d, t = self.desk, self.desk.t
        rows = tuple(
            f"#{r.member_id} {r.name} · {r.phone} · {t(r.tier.capitalize())} · "
            + ", ".join(_card_text(t, card) for card in r.cards)
            for r in reply.members
        )
        d.show(Screen.MEMBERS, MembersView(d.header(), rows or (t("Not found"),)))

    def register(
        self,
        name: str,
        phone: str,
        waive_fee: bool = False,
        join_by_spend: bool = False,
        id_number: str = "",
        birthday: dt.date | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:
        """A new member, and the blank card on the reader becomes theirs. The joining fee
        is taken in cash, or waived by a manager; or, joining by spend, not taken at all
        while the member spends the rules' threshold (docs/rules.md "Joining"). `then`
        runs once the card is issued (the form forgets what was typed)."""
        blank = self._blank()
        if blank is None or not self.desk.guard():
            return
        uid, key = blank
        op = sm.RegisterMember(
            name=name.strip(),
            phone=phone.strip(),
            uid=uid,
            card_key=key,
            birthday=birthday,
            waive_fee=waive_fee,
            join_by_spend=join_by_spend,
            id_number=id_number.strip(),
        )

        def issued(reply: sm.StaffReply) -> None:
            self._issued(reply)
            if then is not None:
                then()

        refused = {"duplicate": self.on_duplicate} if self.on_duplicate else None
        self.desk.ask_hub(op, issued, write=True, on_refused=refused)

    def report_lost(self, card_id: str) -> None:
        d = self.desk
        if d.guard() and card_id.strip():
            op = sm.ReportLost(card_id=card_id.strip())
            d.ask_hub(op, lambda r: d.message(d.t("Card reported lost"), r.card_id, error=False))

    def replace(
        self, old_card_id: str, payment: Payment = Payment.CASH, waive_fee: bool = False
    ) -> None:
        blank = self._blank()
        if blank is None or not self.desk.guard():
            return
        uid, key = blank
        op = sm.ReplaceCard(
            card_id=old_card_id.strip(), uid=uid, card_key=key, payment=payment, waive_fee=waive_fee
        )
        self.desk.ask_hub(op, self._issued, write=True)

    def _blank(self) -> tuple[str, str] | None:
        """(UID hex, chip public key hex) of the blank card on the reader, else None."""
        card = self.desk.card
        if card is None or not card.tap.blank or card.tap.raw is None:
            self.desk.message(self.desk.t("Put a blank card on the reader"))
            return None
        raw = card.tap.raw
        return raw.uid.hex(), (raw.card_public_key or b"").hex()

    def _issued(self, reply: sm.StaffReply) -> None:
        d, t = self.desk, self.desk.t
        d.shift.counts["card_issued"] += 1
        detail = [t("Take the card off the reader and tap it again to check it.")]
        if reply.fee_waived:
            d.shift.counts["fee_waived"] += 1
            detail.append(t("Fee waived"))
        elif reply.fee_cents:
            d.shift.cents["fee_cash"] += reply.fee_cents
            detail.append(t("Fee paid in cash: {amount}", amount=fmt.money(reply.fee_cents)))
        elif reply.expires_on is not None:  # joining by spend: provisional until then
            detail.append(t("Joining by spend until {date}", date=reply.expires_on.isoformat()))
        d.card = None
        d.message(t("Card {card} is ready", card=reply.card_id), "\n".join(detail), False)


def _card_text(t: Callable[..., str], card: str) -> str:
    """A search row's card, "id:state" from the hub, as "C100001 (Active)" translated."""
    card_id, _, state = card.partition(":")
    return f"{card_id} ({t(state.capitalize())})" if state else card_id
