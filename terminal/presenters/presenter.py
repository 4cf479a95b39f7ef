"""The counter terminal's presenter, without Kivy: one object the app talks to, made of
the small presenters beside it (session, sale, transactions, renewal, backfill, cards,
vouchers, reversal, refund, shift, tags) that share one `Desk`.

Manager-only work (points reversal, fee waivers, card replacement) is checked by the
hub. Every transaction and staff request carries the staff id (audit). Money and points
go through the device port (offline policy, outbox, queue count); member and card
administration goes to the hub over the staff channel (`StaffLink`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tapcard.device.port import DevicePort
from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import STAFF_CARD_PREFIX, Payment
from tapcard.receipts.printer import Printer
from tapcard.ui.i18n import LANGUAGE_DEFAULT, Translator
from tapcard.ui.worker import Post, Tap
from terminal.presenters.backfill import BackfillPresenter
from terminal.presenters.cards import CardsPresenter
from terminal.presenters.confirm import ConfirmPresenter
from terminal.presenters.desk import LOCK_AFTER_S, CardOnReader, Desk, StaffLink, ViewListener
from terminal.presenters.payment import PaymentPresenter
from terminal.presenters.profile import ProfilePresenter
from terminal.presenters.refund import RefundPresenter
from terminal.presenters.registration import RegistrationPresenter
from terminal.presenters.renewal import RenewalPresenter
from terminal.presenters.reversal import ReversalPresenter
from terminal.presenters.sale import SalePresenter
from terminal.presenters.session import SessionPresenter
from terminal.presenters.shift import Shift, ShiftPresenter
from terminal.presenters.tags import TagsPresenter
from terminal.presenters.transactions import Transactions
from terminal.presenters.views import RegisterView, Screen, Staff, TerminalView
from terminal.presenters.vouchers import VoucherPresenter


class TerminalPresenter:
    def __init__(
        self,
        port: DevicePort,
        staff_link: StaffLink,
        post: Post,
        on_view: ViewListener,
        lang: str = LANGUAGE_DEFAULT,
        clock: Callable[[], float] = time.monotonic,
        printer: Printer | None = None,
    ) -> None:
        self.desk = desk = Desk(port, staff_link, post, on_view, lang, clock)
        self.session = SessionPresenter(desk)
        self.transactions = Transactions(desk, printer)
        self.reprint = self.transactions.receipts.reprint
        self.sales = SalePresenter(desk, self.transactions)
        self.renewals = RenewalPresenter(desk, self.transactions)
        self.backfills = BackfillPresenter(desk, self.transactions)
        self.profiles = ProfilePresenter(desk)
        self.cards = CardsPresenter(desk, self.profiles.duplicate)
        self.registrations = RegistrationPresenter(desk, self.cards, self.profiles.field_error)
        self.vouchers = VoucherPresenter(desk)
        self.reversals = ReversalPresenter(desk)
        self.refunds = RefundPresenter(desk, self.transactions.receipts)
        self.shifts = ShiftPresenter(desk)
        self.confirms = ConfirmPresenter(
            desk, self.transactions, self.cards, self.reversals, self.renewals
        )
        self.payments = PaymentPresenter(desk, self.sales, self.transactions, self.confirms.sale)
        self.tags = TagsPresenter(desk, self.confirms)
        desk.redraws.update(
            {
                Screen.LOGIN: desk.show_login,
                Screen.HOME: desk.home,
                Screen.SALE: self.sales.requote,
                Screen.BACKFILL: self.backfills.redraw,
                Screen.RENEWAL: self.renewals.renewal,
                Screen.REVERSAL: self.reversals.reversal_form,
                Screen.REFUND: self.refunds.refund_form,
                Screen.REFUND_CONFIRM: self.refunds.review,
            }
        )
        self._alias_calls(desk)
        desk.show_login()

    def _alias_calls(self, desk: Desk) -> None:
        # What the app and its kv files call, by the names they have always had.
        self.home, self.header, self.touch = desk.home, desk.header, desk.touch
        self.member_text = desk.member_text
        self.login, self.card_login = self.session.login, self.session.card_login
        self.lock = self.session.lock
        s = self.sales
        self.sale, self.add_line, self.clear_sale = s.sale, s.add_line, s.clear_sale
        self.pay = self.payments.pay  # the sale's confirmation; its Confirm books
        self.requote, self.category_labels = s.requote, s.category_labels
        self.category_code = s.category_code
        tx = self.transactions
        self.top_up, self.spend, self.redeem = tx.top_up, tx.spend, tx.redeem
        r = self.renewals
        self.renewal, self.renew, self.renew_waived = r.renewal, r.renew, r.renew_waived
        b = self.backfills
        self.backfill_form, self.check_backfill = b.backfill_form, b.check_backfill
        self.submit_backfill, self.backfill = b.submit_backfill, b.backfill
        c = self.cards
        self.search, self.register, self.report_lost = c.search, c.register, c.report_lost
        self.replace = c.replace
        self.use_voucher = self.vouchers.use_voucher
        self.reversal_form, self.reverse = self.reversals.reversal_form, self.reversals.reverse
        f = self.refunds
        self.start_refund, self.refund_form, self.look_up = f.start_refund, f.refund_form, f.look_up
        self.refund_ref, self.refund_reason = f.refund_ref, f.refund_reason
        self.pick, self.pick_all, self.review = f.pick, f.pick_all, f.review
        self.confirm_refund = f.confirm_refund
        self.shift_summary = self.shifts.shift_summary
        self.pay_tender, self.pay_split = self.payments.pay_tender, self.payments.pay_split
        self.open_shift, self.close_shift = self.shifts.open_shift, self.shifts.close_shift
        pr = self.profiles
        self.open_profile, self.check_profile = pr.open_profile, pr.check
        self.confirm_edit, self.profile_field_error = pr.confirm_edit, pr.field_error

    def stop(self) -> None:
        self.desk.worker.stop()

    def tender(self, target: str, payment: Payment, ref: str = "", part_text: str = "") -> None:
        """The tender bar (terminal/kv/tenders.kv) of the sale, the top-up's confirmation
        or the renewal: `payment` with its reference, after the part typed."""
        if target == "sale":
            self.payments.pay_tender(payment, ref, part_text)
        elif target == "renewal":
            self.confirms.renew(payment, ref, part_text)
        elif target == "topup":
            self.confirms.top_up_tenders(payment, ref, part_text)

    # --- registration, as the app and its kv files call it ---------------------------------

    def registration_form(self) -> RegisterView | None:
        return self.registrations.registration_form()

    def choose_joining(self, by_spend: bool, waive_fee: bool = False) -> RegisterView | None:
        return self.registrations.choose(by_spend, waive_fee)

    def check_registration(
        self, values: dict[str, str], id_number: str = ""
    ) -> RegisterView | None:
        return self.registrations.check(values, id_number)

    def confirm_registration(self) -> None:
        self.registrations.confirm_registration()

    def registration_field_error(self, field: str, value: str) -> str:
        return self.registrations.field_error(field, value)

    # --- the state the app and the tests read ---------------------------------------------

    @property
    def t(self) -> Translator:
        return self.desk.t

    @property
    def screen(self) -> Screen:
        return self.desk.screen

    @property
    def view(self) -> TerminalView | None:
        return self.desk.view

    @property
    def staff(self) -> Staff | None:
        return self.desk.staff

    @property
    def card(self) -> CardOnReader | None:
        return self.desk.card

    @card.setter
    def card(self, card: CardOnReader | None) -> None:
        self.desk.card = card

    @property
    def lines(self) -> list[SaleLine]:
        return self.desk.sale_lines

    @property
    def quote(self) -> SaleQuote | None:
        return self.sales.quote

    @property
    def queue_depth(self) -> int:
        return self.desk.queue_depth

    @property
    def shift(self) -> Shift:
        return self.desk.shift

    # --- time, language, the reader -------------------------------------------------------

    def tick(self) -> None:
        """Called every few seconds by the app: auto-lock and the queue count."""
        d = self.desk
        if d.staff is not None and d.clock() - d.last_touch > LOCK_AFTER_S:
            self.lock()
        d.worker.submit(lambda: d.port.status().outbox_depth, self._got_depth)

    def _got_depth(self, depth: int | Exception) -> None:
        if isinstance(depth, int) and depth != self.desk.queue_depth:
            self.desk.queue_depth = depth
            if self.desk.screen == Screen.HOME:
                self.desk.home()

    def set_language(self, lang: str) -> None:
        self.desk.t = Translator(lang)
        self.desk.redraw()

    def toggle_language(self) -> None:
        self.set_language(self.desk.t.other())

    def on_tap(self, tap: Tap) -> None:
        d = self.desk
        if tap.card_id.startswith(STAFF_CARD_PREFIX):
            if d.staff is None and d.screen == Screen.LOGIN:
                self.card_login(tap)
            return  # a staff card is never a member's card
        d.card = CardOnReader(tap)
        if tap.error is not None or tap.blank:
            if d.screen == Screen.HOME:
                d.home()
            return
        d.worker.submit(lambda: d.port.snapshot(tap.card_id), d.got_snapshot)

    def on_removed(self) -> None:
        """The member's card stays selected until the next tap: staff work on after."""
