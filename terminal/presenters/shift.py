"""The till's shift: it belongs to the device, not to a login.

A shift opens with the float counted into the drawer and closes with the cash counted
out of it, against the cash expected (float + cash in - cash out); the difference is
recorded, shown, and reported to the hub (`CloseShift`, hub/till.py), which records it
once by the shift's id. Logins, auto-locks and restarts within it do not reset it: the
tally is kept in the device's document store (`SHIFT_DOC`, written atomically at each
change) and read back when the terminal starts. A booking while no shift is open opens
one without a float counted (float ¥0.00, shown so), so that nothing is ever left out.
A report the hub did not answer stays in `SHIFT_UNSENT_DOC` and is sent again at the
next open or close.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import msgspec

from tapcard.domain.model import DRAWER_TENDERS, Payment
from tapcard.ui import fmt
from tapcard.wire import staff_messages as sm
from terminal.presenters.views import ReceiptView, Screen

if TYPE_CHECKING:
    from tapcard.device.port import DevicePort
    from terminal.presenters.desk import Desk

log = logging.getLogger(__name__)

SHIFT_DOC: Final = "till_shift"
SHIFT_UNSENT_DOC: Final = "till_shift_unsent"  # closed shifts the hub has not recorded
UNSENT_SHIFTS_MAX: Final = 50  # a till offline for weeks keeps its last 50 reports
SHIFT_REPORT_TIMEOUT_S: Final = 5.0  # as any staff request (terminal/presenters/desk.py)

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
# What a takings key names (its first part) and the tender of keys that name none.
TAKINGS_WHAT: Final = {
    "sale": "Sales",
    "fee": "Fees",
    "topup": "Top-ups",
    "spend": "Stored value spent",
    "refund": "Refunds",
}
TAKINGS_TENDER: Final = {"topup": Payment.CASH.value, "spend": Payment.STORED_VALUE.value}
TENDER_NAMES: Final = {
    Payment.CASH: "Cash",
    Payment.STORED_VALUE: "Stored value",
    Payment.BANK_CARD: "Bank card",
    Payment.WECHAT: "WeChat Pay",
    Payment.ALIPAY: "Alipay",
}
# Takings that leave the drawer (the rest of the drawer tenders' come into it).
CASH_OUT_WHAT: Final = frozenset({"refund"})

# What a booking took in: the takings key (e.g. "sale_cash", "fee_stored_value") and cents.
Takings = tuple[str, int]


def takings_parts(key: str) -> tuple[str, str]:
    """(what, tender) of a takings key: 'sale_wechat' -> ('sale', 'wechat')."""
    what, _, tender = key.partition("_")
    return what, tender or TAKINGS_TENDER.get(what, "")


class Tally(Counter[str]):
    """A counter that tells its shift of every change, so that the shift is saved."""

    changed: Callable[[], None] | None = None

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        if self.changed is not None:
            self.changed()


class ShiftDoc(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The shift as the device store keeps it."""

    shift_id: str = ""
    open: bool = False
    started_ms: int = 0
    opened_by: str = ""
    float_cents: int = 0
    float_counted: bool = False
    counts: dict[str, int] = {}
    cents: dict[str, int] = {}
    points: int = 0


class Shift:
    """The till's open shift (or none: `open` False) and its tally."""

    def __init__(self, started_ms: int, doc: ShiftDoc | None = None) -> None:
        d = doc or ShiftDoc(open=False, started_ms=started_ms)
        self.shift_id, self.open, self.started_ms = d.shift_id, d.open, d.started_ms
        self.opened_by, self.float_cents = d.opened_by, d.float_cents
        self.float_counted = d.float_counted
        self.counts, self.cents = Tally(d.counts), Tally(d.cents)
        self.points = d.points
        self._save: Callable[[Shift], None] | None = None
        self._now: Callable[[], int] | None = None

    def attach(self, save: Callable[[Shift], None], now_ms: Callable[[], int]) -> None:
        """Save on every change from now on; `now_ms` dates a shift a booking opens."""
        self._save, self._now = save, now_ms
        self.counts.changed = self.cents.changed = self._changed

    def _changed(self) -> None:
        if not self.open and self._now is not None:
            self.start(self._now(), "", 0, counted=False)  # a booking with no shift open
        self.save()

    def save(self) -> None:
        if self._save is not None:
            self._save(self)

    def successor(self, now_ms: int) -> Shift:
        """The closed till after this shift: an empty tally, saved the same way."""
        after = Shift(now_ms)
        if self._save is not None and self._now is not None:
            after.attach(self._save, self._now)
        after.save()
        return after

    def start(self, now_ms: int, staff: str, float_cents: int, counted: bool = True) -> None:
        self.shift_id, self.open, self.started_ms = str(uuid.uuid4()), True, now_ms
        self.opened_by, self.float_cents, self.float_counted = staff, float_cents, counted

    def book(self, kind: str, takings: Takings | tuple[Takings, ...] | None, points: int) -> None:
        """One booking: its kind counted, its takings (a split's: one per tender) added."""
        self.points += points
        for key, cents in _takings(takings):
            self.cents[key] += cents
        self.counts[kind] += 1

    def cash_in_cents(self) -> int:
        return sum(c for k, c in self.cents.items() if _drawer(k) and not _out(k))

    def cash_out_cents(self) -> int:
        return sum(c for k, c in self.cents.items() if _drawer(k) and _out(k))

    def expected_cents(self) -> int:
        return self.float_cents + self.cash_in_cents() - self.cash_out_cents()

    def doc(self) -> ShiftDoc:
        return ShiftDoc(
            shift_id=self.shift_id,
            open=self.open,
            started_ms=self.started_ms,
            opened_by=self.opened_by,
            float_cents=self.float_cents,
            float_counted=self.float_counted,
            counts=dict(self.counts),
            cents=dict(self.cents),
            points=self.points,
        )


def _takings(takings: Takings | tuple[Takings, ...] | None) -> tuple[Takings, ...]:
    if not takings:
        return ()
    if isinstance(takings[0], str):
        key, cents = takings
        assert isinstance(key, str) and isinstance(cents, int)
        return ((key, cents),)
    return tuple(t for t in takings if not isinstance(t, str | int))


def _drawer(key: str) -> bool:
    return takings_parts(key)[1] in DRAWER_TENDERS


def _out(key: str) -> bool:
    return takings_parts(key)[0] in CASH_OUT_WHAT


def load_shift(port: DevicePort) -> Shift:
    """The shift the device store holds (a restart carries on with it), saved from now
    on at each change; a closed (not open) shift when there is none or it is unreadable."""
    raw = port.load_doc(SHIFT_DOC)
    doc = None
    if raw is not None:
        try:
            doc = msgspec.convert(raw, type=ShiftDoc)
        except msgspec.ValidationError as exc:
            log.warning("the till's shift in the device store is unusable (%s)", exc)
    shift = Shift(port.clock.now_ms(), doc)
    shift.attach(
        lambda s: port.save_doc(SHIFT_DOC, msgspec.to_builtins(s.doc())), port.clock.now_ms
    )
    return shift


def takings_label(t: Callable[..., str], key: str) -> str:
    """A takings key as the summary says it: 'fee_cash' -> 'Fees · Cash', translated."""
    what, tender = takings_parts(key)
    name = t(TAKINGS_WHAT.get(what, what))
    try:
        return f"{name} \u00b7 {t(TENDER_NAMES[Payment(tender)])}"
    except ValueError:
        return name


class ShiftPresenter:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        # The shift last closed on this screen, its count and whether the hub has it:
        # drawn again in the other language when the language changes.
        self.closed: tuple[Shift, int, bool] | None = None
        desk.redraws[Screen.SHIFT] = self._redraw

    def _redraw(self) -> None:
        if self.closed is not None:
            self._show_closed(*self.closed)
        else:
            self.shift_summary()

    def shift_summary(self) -> ReceiptView:
        d = self.desk
        self.closed = None
        t, s = d.t, d.shift
        view = ReceiptView(d.header(), t("End of shift"), tuple(self._rows(s)))
        if d.guard():
            d.show(Screen.SHIFT, view)
        return view

    def _summary_again(self) -> None:
        self.shift_summary()

    def _rows(self, s: Shift) -> list[str]:
        d, t = self.desk, self.desk.t
        if not s.open:
            return [
                t("No shift is open: count the float and open one"),
                t("Queue: {n}", n=d.queue_depth),
            ]
        rows = [t("Since {time}", time=fmt.clock(s.started_ms))]
        if s.float_counted:
            rows.append(t("Float") + f": {fmt.money(s.float_cents)}")
        else:
            rows.append(t("Float") + f": {fmt.money(0)} ({t('not counted')})")
        for kind in SHIFT_KINDS:
            if s.counts[kind]:
                label = SHIFT_LABELS.get(kind, kind.capitalize())
                rows.append(f"{t(label)}: {s.counts[kind]}")
        for key in sorted(s.cents):
            rows.append(f"{takings_label(t, key)}: {fmt.money(s.cents[key])}")
        rows.append(t("Cash in") + f": {fmt.money(s.cash_in_cents())}")
        rows.append(t("Cash out") + f": {fmt.money(s.cash_out_cents())}")
        rows.append(t("Cash expected") + f": {fmt.money(s.expected_cents())}")
        rows.append(t("Points earned") + f": {s.points}")
        rows.append(t("Queue: {n}", n=d.queue_depth))
        return rows

    # --- open and close --------------------------------------------------------------

    def open_shift(self, float_text: str) -> None:
        """Open the till's shift with the float counted into the drawer (a shift a
        booking opened without one takes the float now)."""
        d = self.desk
        if not d.guard():
            return
        d.touch()
        cents = fmt.parse_money(float_text) if float_text.strip() else None
        if cents is None or cents < 0:
            d.message(d.t("Please check the entries"), d.t("Count the float in the drawer"))
            return
        s = d.shift
        if s.open and s.float_counted:
            d.message(
                d.t("A shift is already open"), d.t("Since {time}", time=fmt.clock(s.started_ms))
            )
            return
        if s.open:
            s.opened_by, s.float_cents, s.float_counted = d.staff_id(), cents, True
        else:
            s.start(d.wall.now_ms(), d.staff_id(), cents)
        s.save()
        self._send_unsent(lambda _sent: self._summary_again())

    def close_shift(self, counted_text: str) -> None:
        """Close the shift with the cash counted in the drawer: the difference against
        the cash expected is shown, recorded and reported to the hub."""
        d = self.desk
        if not d.guard():
            return
        d.touch()
        cents = fmt.parse_money(counted_text) if counted_text.strip() else None
        if cents is None or cents < 0:
            d.message(d.t("Please check the entries"), d.t("Count the cash in the drawer"))
            return
        s = d.shift
        if not s.open:
            d.message(d.t("No shift is open: count the float and open one"))
            return
        report = sm.CloseShift(
            shift_id=s.shift_id,
            opened_ms=s.started_ms,
            closed_ms=d.wall.now_ms(),
            opened_by=s.opened_by,
            float_cents=s.float_cents,
            cash_in_cents=s.cash_in_cents(),
            cash_out_cents=s.cash_out_cents(),
            counted_cents=cents,
            takings=dict(s.cents),
        )
        self._keep_unsent(report)
        d.shift = s.successor(report.closed_ms)
        self._send_unsent(lambda sent: self._show_closed(s, cents, report.shift_id in sent))

    def _close_rows(self, s: Shift, counted_cents: int) -> list[str]:
        t = self.desk.t
        difference = counted_cents - s.expected_cents()
        sign = "+" if difference > 0 else ("-" if difference < 0 else "")
        return [
            t("Since {time}", time=fmt.clock(s.started_ms)),
            t("Float") + f": {fmt.money(s.float_cents)}",
            t("Cash in") + f": {fmt.money(s.cash_in_cents())}",
            t("Cash out") + f": {fmt.money(s.cash_out_cents())}",
            t("Cash expected") + f": {fmt.money(s.expected_cents())}",
            t("Cash counted") + f": {fmt.money(counted_cents)}",
            t("Difference") + f": {sign}{fmt.money(abs(difference))}",
        ]

    def _show_closed(self, s: Shift, counted_cents: int, reported: bool) -> None:
        d, t = self.desk, self.desk.t
        self.closed = (s, counted_cents, reported)
        rows = self._close_rows(s, counted_cents)
        note = (
            "Reported to the hub"
            if reported
            else "Not reported yet: sent again at the next open or close"
        )
        view = ReceiptView(d.header(), t("Shift closed"), (*rows, t(note)))
        d.show(Screen.SHIFT, view)

    def _unsent(self) -> list[sm.CloseShift]:
        raw = self.desk.port.load_doc(SHIFT_UNSENT_DOC)
        try:
            return msgspec.convert(raw or [], type=list[sm.CloseShift])
        except msgspec.ValidationError as exc:
            log.warning("unsent shift reports are unusable (%s): dropped", exc)
            return []

    def _keep_unsent(self, report: sm.CloseShift) -> None:
        kept = [*self._unsent(), report][-UNSENT_SHIFTS_MAX:]
        self.desk.port.save_doc(SHIFT_UNSENT_DOC, msgspec.to_builtins(kept))

    def _send_unsent(self, done: Callable[[set[str]], None]) -> None:
        """Send the closed shifts the hub has not recorded yet, on the worker; `done`
        with the ids it recorded now."""
        d = self.desk
        assert d.staff is not None
        staff_id, session = d.staff.staff_id, d.staff.session

        def job() -> set[str]:
            sent: set[str] = set()
            gone: set[str] = set()
            for report in self._unsent():
                reply = d.link.request(staff_id, report, SHIFT_REPORT_TIMEOUT_S, session)
                if reply is None:
                    break  # the hub is not reachable: the rest another time
                if reply.error == "no_session":
                    continue  # an offline login: sent again under an online one
                if reply.error:  # refused for good (logged): kept no longer
                    log.warning("hub refused shift %s: %s", report.shift_id, reply.message)
                    gone.add(report.shift_id)
                else:
                    sent.add(report.shift_id)
            left = [r for r in self._unsent() if r.shift_id not in sent | gone]
            d.port.save_doc(SHIFT_UNSENT_DOC, msgspec.to_builtins(left))
            return sent

        def finish(sent: set[str] | Exception) -> None:
            done(sent if isinstance(sent, set) else set())

        d.worker.submit(job, finish)
