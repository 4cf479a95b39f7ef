"""Accepting a member's voucher (typed, or scanned from its QR code) once. Online only:
the hub is the one place that knows whether it was used already."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tapcard.domain import engine
from tapcard.ui.refusals import counter_title
from tapcard.wire import staff_messages as sm
from tapcard.wire.codes import Reason
from terminal.presenters.desk import Desk
from terminal.presenters.views import ReceiptView, Screen

VOUCHER_ERRORS: Final[Mapping[str, str]] = {
    "not_found": "Unknown voucher",
    "conflict": "Voucher already used",
    "invalid": "Not a voucher code",
    # The hub's reason, by the name of its code: expired, or not valid at this place.
    **{
        reason.name.lower(): counter_title(reason)
        for reason in (
            Reason.VOUCHER_EXPIRED,
            Reason.VOUCHER_WRONG_BRANCH,
            Reason.VOUCHER_WRONG_DEVICE,
        )
    },
}


class VoucherPresenter:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def use_voucher(self, code_text: str) -> None:
        d = self.desk
        if not d.guard():
            return
        code = engine.parse_voucher_code(code_text)
        if code is None:
            d.message(d.t("Not a voucher code"), code_text.strip()[:40])
            return
        op = sm.UseVoucher(code=code)
        d.ask_hub(op, self._voucher_used, errors=VOUCHER_ERRORS, detail=code)

    def _voucher_used(self, reply: sm.StaffReply) -> None:
        d, t, rules = self.desk, self.desk.t, self.desk.port.rules
        d.shift.counts["voucher"] += 1
        item = rules.catalog_item(reply.item) if rules is not None else None
        rows = (
            t("Staff") + f": {d.staff_name()}",
            t("Voucher") + f": {reply.voucher}",
            t(item.name) if item else reply.item,
            t("Quantity: {n}", n=reply.units),
            t("Member") + f": {reply.member_id}",
        )
        d.show(Screen.RECEIPT, ReceiptView(d.header(), t("Voucher accepted"), rows))
