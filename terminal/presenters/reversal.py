"""Taking back a transfer's points (manager only, checked by the hub): from the last
receipt's reference `SEQ/ID8` on this terminal, or a full transfer id, with a reason."""

from __future__ import annotations

from typing import Final

from tapcard.ui import fmt
from tapcard.wire import staff_messages as sm
from terminal.presenters.desk import Desk
from terminal.presenters.transactions import reference
from terminal.presenters.views import ReceiptView, ReversalView, Screen

REASON_LEN_MIN: Final = 3
REF_LEN_MAX: Final = 64
REASON_LEN_MAX: Final = 200


class ReversalPresenter:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def reversal_form(self) -> ReversalView | None:
        """The reversal screen, starting from the last receipt's reference."""
        d = self.desk
        if not d.guard():
            return None
        ref = reference(d.last_receipt) if d.last_receipt is not None else ""
        t = d.t
        lines: tuple[str, ...] = (
            t("Reference or transfer id"),
            t("Reason (at least 3 characters)"),
        )
        if not d.manager():
            lines = (*lines, t("A manager must do this"))
        view = ReversalView(d.header(), ref, lines, d.manager())
        d.show(Screen.REVERSAL, view)
        return view

    def reverse(self, ref: str, reason: str) -> None:
        """Take back the points of a transfer (the hub refuses it for a cashier)."""
        d = self.desk
        if not d.guard():
            return
        ref, reason = ref.strip(), reason.strip()
        if len(ref) < REASON_LEN_MIN or len(reason) < REASON_LEN_MIN:
            d.message(d.t("Please check the entries"))
            return
        op = sm.ReversePoints(ref=ref[:REF_LEN_MAX], reason=reason[:REASON_LEN_MAX])
        d.ask_hub(op, self._reversed)

    def _reversed(self, reply: sm.StaffReply) -> None:
        d, t = self.desk, self.desk.t
        d.shift.counts["reversal"] += 1
        rows = (
            t("Staff") + f": {d.staff_name()}",
            t("Points taken back: {points}", points=fmt.points(reply.points)),
            t("Reference: {ref}", ref=reply.tx_id[:8]),
        )
        d.show(Screen.RECEIPT, ReceiptView(d.header(), t("Points reversed"), rows))
        d.refresh_card()
