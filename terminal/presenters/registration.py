"""Registering a walk-in at the counter: name, phone, ID number (optional) and birthday
(optional), each checked as it is typed the way the hub checks it; joining by the fee
(paid in cash, or waived by a manager) or, when the rules offer it, by spend; then a
confirmation with the member's name, the phone masked and the fee in yuan or the spend
threshold and its window, and only then RegisterMember for the blank card on the reader.

The ID number is typed in full once, sent once, and shown only masked. What was typed
is forgotten after the card is issued and when staff sign out. A person who is a
member already comes back `duplicate` (the profile presenter's screen).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tapcard.clock import today as clock_today
from tapcard.domain import engine
from tapcard.domain import profile as rules_of
from tapcard.domain.model import FeeKind, mask_id_number, mask_phone
from tapcard.domain.rules import RuleSet
from tapcard.ui import fmt
from terminal.presenters.cards import CardsPresenter
from terminal.presenters.desk import Desk
from terminal.presenters.views import RegisterView, Screen

FIELDS: Final = ("name", "phone", "birthday")  # the ID number never comes back to the form
NO_RULES: Final = "The rules are not loaded yet: try again when online"
FUTURE_BIRTHDAY: Final = "Birthday is in the future"

FieldError = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class Draft:
    """A registration checked and shown for confirmation: what RegisterMember sends."""

    name: str
    phone: str
    id_number: str
    birthday: dt.date | None
    by_spend: bool
    waive_fee: bool


class RegistrationPresenter:
    def __init__(self, desk: Desk, cards: CardsPresenter, field_error: FieldError) -> None:
        self.desk, self.cards, self._field_error = desk, cards, field_error
        self.values: dict[str, str] = {}
        self.by_spend = self.waive_fee = False
        self.pending: Draft | None = None
        desk.on_sign_out.append(self.clear)
        desk.redraws[Screen.REGISTER] = self.redraw

    def clear(self) -> None:
        self.values, self.pending = {}, None
        self.by_spend = self.waive_fee = False

    def registration_form(self) -> RegisterView | None:
        """The form as last typed (empty after a card is issued or a sign-out)."""
        if not self.desk.guard():
            return None
        self.pending = None
        return self._show()

    def redraw(self) -> RegisterView:
        """Again, in the language now chosen: the confirmation too, if one is shown."""
        rules = self.desk.port.rules
        if self.pending is None or rules is None:
            return self._show()
        return self._show(confirm=self._confirmation(self.pending, rules))

    def choose(self, by_spend: bool, waive_fee: bool = False) -> RegisterView | None:
        """Join by fee or by spend (only when the rules offer it); a manager may waive."""
        if not self.desk.guard():
            return None
        rules = self.desk.port.rules
        self.by_spend = by_spend and rules is not None and rules.join_spend_cents > 0
        self.waive_fee = waive_fee and not self.by_spend and self.desk.manager()
        self.pending = None
        return self._show()

    def field_error(self, field: str, value: str) -> str:
        """The translated error of one field as typed ("" when it is fine)."""
        error = self._field_error(field, value)
        if error or field != "birthday":
            return error
        birthday = rules_of.parse_birthday(value)
        if birthday is not None and birthday > clock_today(self.desk.wall):
            return self.desk.t(FUTURE_BIRTHDAY)
        return ""

    def check(self, values: dict[str, str], id_number: str = "") -> RegisterView | None:
        """Errors at their fields, or the confirmation of who joins and on what terms."""
        if not self.desk.guard():
            return None
        d, t = self.desk, self.desk.t
        self.values = {f: values.get(f, "").strip() for f in FIELDS}
        typed = {**self.values, "id_number": id_number}
        errors = [(f, e) for f in (*FIELDS, "id_number") if (e := self.field_error(f, typed[f]))]
        rules = d.port.rules
        if rules is None:
            errors.append(("", t(NO_RULES)))
        card = d.card
        if card is None or not card.tap.blank or card.tap.raw is None:
            errors.append(("", t("Put a blank card on the reader")))
        if errors or rules is None:
            self.pending = None
            return self._show(errors=tuple(errors))
        self.pending = Draft(
            name=self.values["name"],
            phone=self.values["phone"],
            id_number=id_number.strip(),
            birthday=rules_of.parse_birthday(self.values["birthday"]),
            by_spend=self.by_spend,
            waive_fee=self.waive_fee,
        )
        return self._show(confirm=self._confirmation(self.pending, rules))

    def confirm_registration(self) -> None:
        if not self.desk.guard() or self.pending is None:
            return
        draft, self.pending = self.pending, None
        self.cards.register(
            draft.name,
            draft.phone,
            waive_fee=draft.waive_fee,
            join_by_spend=draft.by_spend,
            id_number=draft.id_number,
            birthday=draft.birthday,
            then=self.clear,
        )

    def _confirmation(self, draft: Draft, rules: RuleSet) -> tuple[str, ...]:
        t = self.desk.t
        lines = [f"{t('Name')}: {draft.name}", f"{t('Phone')}: {mask_phone(draft.phone)}"]
        if draft.id_number:
            lines.append(f"{t('ID number')}: {mask_id_number(draft.id_number)}")
        if draft.birthday is not None:
            lines.append(f"{t('Birthday')}: {draft.birthday.isoformat()}")
        lines.append(self._terms(rules, draft.by_spend, draft.waive_fee))
        return tuple(lines)

    def _terms(self, rules: RuleSet, by_spend: bool, waive_fee: bool) -> str:
        """What joining costs: the fee in yuan, waived, or the spend and its window."""
        t = self.desk.t
        if by_spend:
            amount = fmt.money(rules.join_spend_cents, rules.currency)
            return t(
                "Member once {amount} is spent (within {days} days)",
                amount=amount,
                days=rules.join_spend_days,
            )
        fee = engine.fee_cents(rules, FeeKind.JOINING)
        if fee <= 0:
            return t("No joining fee")
        if waive_fee:
            return t("Joining fee: {amount}, waived", amount=fmt.money(fee, rules.currency))
        return t("Joining fee: {amount}, paid in cash", amount=fmt.money(fee, rules.currency))

    def _show(
        self, errors: tuple[tuple[str, str], ...] = (), confirm: tuple[str, ...] = ()
    ) -> RegisterView:
        d, rules = self.desk, self.desk.port.rules
        view = RegisterView(
            d.header(),
            tuple((f, self.values.get(f, "")) for f in FIELDS),
            by_spend=self.by_spend,
            can_by_spend=rules is not None and rules.join_spend_cents > 0,
            can_waive=d.manager() and not self.by_spend,
            waive_fee=self.waive_fee,
            terms=self._terms(rules, self.by_spend, self.waive_fee) if rules else "",
            errors=errors,
            confirm=confirm,
        )
        d.show(Screen.REGISTER, view)
        return view
