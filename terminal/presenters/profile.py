"""A member's profile at the counter: the form with the current values (ShowProfile),
each field checked as it is typed the way the hub checks it (tapcard.domain.profile),
a confirmation of what changes, then EditMember. The hub answers with the profile; an
ID number is typed in full once and only ever shown masked.

A registration or edit whose phone or ID number is a member's already comes back
`duplicate`: the counter says so in plain words, with that member masked, and offers
to open them instead of making a second member.
"""

from __future__ import annotations

from typing import Final

from tapcard.domain import profile as rules
from tapcard.wire import staff_messages as sm
from terminal.presenters.desk import Desk
from terminal.presenters.views import ProfileView, ReceiptView, Screen

FIELDS: Final = ("name", "phone", "address", "birthday")
LABELS: Final = {
    "name": "Name",
    "phone": "Phone",
    "address": "Address",
    "birthday": "Birthday",
    "id_number": "ID number",
}
ERRORS: Final = {
    "name": "Name is required (at most 200 characters)",
    "phone": "Phone must be 5-20 digits",
    "address": "Address is at most 500 characters",
    "birthday": "Birthday is YYYY-MM-DD",
    "id_number": "ID number must be 6-32 characters",
}


class ProfilePresenter:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.current: sm.MemberProfile | None = None
        self.pending: sm.EditMember | None = None

    def open_profile(self, member_id: int) -> None:
        if self.desk.guard() and member_id >= 1:
            self.desk.ask_hub(sm.ShowProfile(member_id=member_id), self._opened)

    def _opened(self, reply: sm.StaffReply) -> None:
        self.current, self.pending = reply.profile, None
        if reply.profile is not None:
            self.desk.show(Screen.PROFILE, self._view(_values(reply.profile)))

    def _view(self, values: dict[str, str], **kw: object) -> ProfileView:
        assert self.current is not None
        return ProfileView(
            self.desk.header(),
            self.current.member_id,
            tuple((f, values.get(f, "")) for f in FIELDS),
            self.current.id_number_masked,
            **kw,  # type: ignore[arg-type]
        )

    def field_error(self, field: str, value: str) -> str:
        """The translated error of one field as typed ("" when it is fine)."""
        wrong = {
            "name": rules.name_error,
            "phone": rules.phone_error,
            "address": rules.address_error,
            "id_number": rules.id_number_error,
            "birthday": _birthday_error,
        }[field](value)
        return self.desk.t(ERRORS[field]) if wrong else ""

    def check(self, values: dict[str, str], id_number: str = "") -> ProfileView | None:
        """Errors at their fields, or the confirmation of what changes."""
        if not self.desk.guard() or self.current is None:
            return None
        t = self.desk.t
        typed = {**values, "id_number": id_number}
        errors = tuple(
            (f, e) for f in (*FIELDS, "id_number") if (e := self.field_error(f, typed.get(f, "")))
        )
        old = _values(self.current)
        changed = {
            f: values[f].strip() for f in FIELDS if f in values and values[f].strip() != old[f]
        }
        confirm = tuple(
            f"{t(LABELS[f])}: {old[f] or '-'} -> {v or '-'}" for f, v in changed.items()
        )
        if id_number.strip():
            confirm += (
                t("ID number: {old} -> a new one", old=self.current.id_number_masked or "-"),
            )
        if errors or not confirm:
            self.pending = None
            view = self._view(values, errors=errors or (("", t("Nothing to change")),))
        else:
            self.pending = sm.EditMember(
                member_id=self.current.member_id,
                **changed,
                id_number=id_number.strip() or None,
            )
            view = self._view(values, confirm=confirm)
        self.desk.show(Screen.PROFILE, view)
        return view

    def confirm_edit(self) -> None:
        if self.desk.guard() and self.pending is not None:
            op, self.pending = self.pending, None
            self.desk.ask_hub(op, self._edited, on_refused={"duplicate": self.duplicate})

    def _edited(self, reply: sm.StaffReply) -> None:
        d, t = self.desk, self.desk.t
        self.current = reply.profile
        rows = tuple(t(LABELS.get(f, f)) for f in reply.changed)
        d.show(Screen.RECEIPT, ReceiptView(d.header(), t("Profile changed"), rows))

    def duplicate(self, reply: sm.StaffReply) -> None:
        """A registration or edit refused: the person is a member already."""
        t = self.desk.t
        who = reply.members[0] if reply.members else None
        what = t("This phone") if "phone" in reply.changed else t("This ID number")
        text = t(
            "{what} is already member #{id} ({name}, {phone}): no new member is made.",
            what=what,
            id=reply.member_id,
            name=who.name if who else "",
            phone=who.phone if who else "",
        )
        self.current = sm.MemberProfile(member_id=reply.member_id, name="", phone="")
        self.desk.show(Screen.PROFILE, self._view({}, duplicate=text))


def _values(p: sm.MemberProfile) -> dict[str, str]:
    birthday = p.birthday.isoformat() if p.birthday else ""
    return {"name": p.name, "phone": p.phone, "address": p.address, "birthday": birthday}


def _birthday_error(text: str) -> str:
    """The form only parses: whether it is in the future the hub judges by its clock."""
    try:
        rules.parse_birthday(text)
    except ValueError:
        return "birthday is YYYY-MM-DD"
    return ""
