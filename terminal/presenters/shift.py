"""The shift's tally and the end-of-shift summary: what this staff member booked since
logging in (counts, takings by kind and payment, points earned)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from tapcard.ui import fmt
from terminal.presenters.views import ReceiptView, Screen

if TYPE_CHECKING:
    from terminal.presenters.desk import Desk

SHIFT_LABELS: Final = {"fee_waived": "Fees waived", "voucher": "Vouchers accepted"}
# The summary's rows, in this order (each shown when it happened at least once).
SHIFT_KINDS: Final = (
    "sale",
    "topup",
    "spend",
    "redeem",
    "renewal",
    "backfill",
    "card_issued",
    "reversal",
    "refund",
    "fee_waived",
    "voucher",
)

# What a booking took in: the takings key (e.g. "sale_cash", "fee_stored_value") and cents.
Takings = tuple[str, int]


@dataclass(slots=True)
class Shift:
    started_ms: int
    counts: Counter[str] = field(default_factory=Counter)
    cents: Counter[str] = field(default_factory=Counter)
    points: int = 0

    def book(self, kind: str, takings: Takings | None, points: int) -> None:
        self.counts[kind] += 1
        if takings is not None:
            key, cents = takings
            self.cents[key] += cents
        self.points += points


class ShiftPresenter:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def shift_summary(self) -> ReceiptView:
        d = self.desk
        t, s = d.t, d.shift
        rows = [t("Since {time}", time=fmt.clock(s.started_ms))]
        for kind in SHIFT_KINDS:
            if s.counts[kind]:
                label = SHIFT_LABELS.get(kind, kind.capitalize())
                rows.append(f"{t(label)}: {s.counts[kind]}")
        for key in sorted(s.cents):
            rows.append(f"{t(key)}: {fmt.money(s.cents[key])}")
        rows.append(t("Points earned") + f": {s.points}")
        rows.append(t("Queue: {n}", n=d.queue_depth))
        view = ReceiptView(d.header(), t("End of shift"), tuple(rows))
        if d.guard():
            d.show(Screen.SHIFT, view)
        return view
