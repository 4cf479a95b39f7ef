"""The terminal's Kivy app: one kv file per screen, loaded on first use; screens copy
view-model fields into Kivy properties and forward touches to the presenter. Reader I/O
runs on the card watcher's thread, hub and runtime calls on the presenter's worker, and
results reach the UI thread through Clock.schedule_once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from tapcard.device.port import DevicePort
from tapcard.domain.model import Payment
from tapcard.readers import CardReader
from tapcard.receipts.printer import Printer
from tapcard.ui import kivyapp
from tapcard.ui.i18n import LANGUAGE_DEFAULT
from tapcard.ui.worker import AppLiveness, CardWatcher
from terminal.keyboard import use_touch_keyboard
from terminal.presenters import views as ui
from terminal.presenters.desk import StaffLink
from terminal.presenters.presenter import TerminalPresenter
from terminal.presenters.sale import CATEGORIES
from terminal.sale_screen import SaleScreen

KV_DIR: Final = Path(__file__).parent / "kv"
TICK_S: Final = 2.0  # auto-lock check and queue count
# The typed fields (kv ids) of the screens that keep them: emptied after a booking or a
# card reported lost (a second tap must not repeat it) and at every lock or login.
INPUTS: Final[dict[str, tuple[str, ...]]] = {
    "home": ("amount", "other"),
    "backfill": ("receipt_no", "receipt_on", "amount"),
    "reversal": ("ref", "reason"),
}


def load_kv(name: str) -> None:
    kivyapp.load_kv(KV_DIR, name)


class LoginScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    title = StringProperty("")
    message = StringProperty("")

    def show(self, view: ui.LoginView) -> None:
        self.title, self.message = view.title, view.message


class HomeScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    member = StringProperty("")
    manager = BooleanProperty(False)

    def show(self, view: ui.HomeView) -> None:
        self.member, self.manager = view.member, view.manager


class TextScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    """A title and lines. Each screen below subclasses this, never another screen: a kv
    rule of a base class applies to its subclasses too, so a MessageScreen under
    ReceiptScreen got the receipt's widgets and name whenever receipt.kv loaded last."""

    title = StringProperty("")
    body = StringProperty("")

    def show(self, view: ui.ReceiptView | ui.MessageView | ui.MembersView) -> None:
        if isinstance(view, ui.MessageView):
            self.title, self.body = view.title, view.detail
        elif isinstance(view, ui.MembersView):
            self.title, self.body = "", "\n".join(view.rows)
        else:
            self.title, self.body = view.title, "\n".join(view.lines)


class ReceiptScreen(TextScreen):
    pass


class ShiftScreen(TextScreen):
    pass


class MessageScreen(TextScreen):
    pass


class MembersScreen(TextScreen):
    pass


class BackfillScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    member = StringProperty("")
    body = StringProperty("")
    can_submit = BooleanProperty(False)
    refused = BooleanProperty(False)

    def show(self, view: ui.BackfillView) -> None:
        self.member, self.body = view.member, "\n".join(view.lines)
        self.can_submit, self.refused = view.can_submit, view.refused


class RenewalScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    member = StringProperty("")
    body = StringProperty("")
    can_cash = BooleanProperty(False)
    can_stored_value = BooleanProperty(False)
    can_waive = BooleanProperty(False)
    keyboard_summary = StringProperty("")  # shown on the on-screen keyboard

    def show(self, view: ui.RenewalView) -> None:
        self.member, self.body = view.member, "\n".join(view.lines)
        self.keyboard_summary = next((x for x in view.lines if "¥" in x), "")
        self.can_cash, self.can_stored_value = view.can_cash, view.can_stored_value
        self.can_waive = view.can_waive


class ReversalScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    body = StringProperty("")
    manager = BooleanProperty(False)

    def show(self, view: ui.ReversalView) -> None:
        self.body, self.manager = "\n".join(view.lines), view.manager
        self.ids.ref.text = view.ref
        self.ids.reason.text = ""


class ProfileScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    member = StringProperty("")
    note = StringProperty("")
    id_masked = StringProperty("")
    warn = BooleanProperty(False)
    confirming = BooleanProperty(False)
    duplicate = BooleanProperty(False)

    def show(self, view: ui.ProfileView) -> None:
        self.view = view
        self.member, self.id_masked = str(view.member_id), view.id_number_masked
        errors = [text for _, text in view.errors]
        self.note = view.duplicate or "\n".join(errors or view.confirm)
        self.warn, self.duplicate = bool(view.errors or view.duplicate), bool(view.duplicate)
        self.confirming = bool(view.confirm)
        for field, value in view.values:
            self.ids[field].text = value
        if not view.errors and not view.confirm:
            self.ids.id_number.text = ""

    def hint(self, field: str, text: str) -> None:
        """The error of the field being typed, at once (the hub checks again)."""
        error = App.get_running_app().presenter.profile_field_error(field, text)
        if error or not self.confirming:
            self.note, self.warn = error, bool(error)

    def check(self) -> None:
        presenter = App.get_running_app().presenter
        if self.duplicate:
            presenter.open_profile(self.view.member_id)
            return
        values = {f: self.ids[f].text for f in ("name", "phone", "address", "birthday")}
        presenter.check_profile(values, self.ids.id_number.text)


class RegisterScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    note = StringProperty("")
    warn = BooleanProperty(False)
    confirming = BooleanProperty(False)
    by_spend = BooleanProperty(False)
    can_by_spend = BooleanProperty(False)
    can_waive = BooleanProperty(False)
    waive_fee = BooleanProperty(False)

    def show(self, view: ui.RegisterView) -> None:
        self.by_spend, self.can_by_spend = view.by_spend, view.can_by_spend
        self.can_waive, self.waive_fee = view.can_waive, view.waive_fee
        self.note = "\n".join([text for _, text in view.errors] or view.confirm or [view.terms])
        self.warn, self.confirming = bool(view.errors), bool(view.confirm)
        for field, value in view.values:
            self.ids[field].text = value
        if not view.confirm and not any(value for _, value in view.values):
            self.ids.id_number.text = ""  # a fresh form: after a card is issued, or a lock

    def hint(self, field: str, text: str) -> None:
        """The error of the field being typed, at once (the hub checks again)."""
        error = App.get_running_app().presenter.registration_field_error(field, text)
        if error or not self.confirming:
            self.note, self.warn = error, bool(error)

    def choose(self, by_spend: bool, waive_fee: bool = False) -> None:
        App.get_running_app().presenter.choose_joining(by_spend, waive_fee)

    def check(self) -> None:
        values = {f: self.ids[f].text for f in ("name", "phone", "birthday")}
        App.get_running_app().presenter.check_registration(values, self.ids.id_number.text)


class RefundScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    sale = StringProperty("")
    can_lookup = BooleanProperty(False)
    can_pick = BooleanProperty(False)
    can_review = BooleanProperty(False)
    warn = BooleanProperty(False)

    def show(self, view: ui.RefundView) -> None:
        self.sale = "\n".join(view.sale)
        self.can_lookup, self.can_pick = view.can_lookup, view.can_pick
        self.can_review, self.warn = view.can_review, view.warn
        if self.ids.ref.text != view.ref:
            self.ids.ref.text = view.ref
        if self.ids.reason.text != view.reason:
            self.ids.reason.text = view.reason
        rows = self.ids.rows
        rows.clear_widgets()
        for row in view.rows:
            widget = Factory.RefundLineRow()  # a kv class: its properties exist once built
            widget.line_no, widget.label = row.line_no, row.label
            widget.picked, widget.left = row.picked, row.left
            rows.add_widget(widget)


class RefundConfirmScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    member = StringProperty("")
    lines = StringProperty("")
    totals = StringProperty("")

    def show(self, view: ui.RefundConfirmView) -> None:
        self.member = view.member
        self.lines, self.totals = "\n".join(view.lines), "\n".join(view.totals)


class CounterConfirmScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    title = StringProperty("")
    member = StringProperty("")
    body = StringProperty("")
    units = NumericProperty(0)
    units_max = NumericProperty(0)
    tenders = StringProperty("")  # the tender bar's target, "" when it is not shown
    warn = BooleanProperty(False)
    keyboard_summary = StringProperty("")  # shown on the on-screen keyboard

    def show(self, view: ui.ConfirmView) -> None:
        self.title, self.member, self.body = view.title, view.member, "\n".join(view.lines)
        self.units, self.units_max = view.units, view.units_max
        self.tenders, self.warn = view.tenders, bool(view.note)
        self.keyboard_summary = view.lines[0] if view.lines else ""


SCREEN_CLASSES: Final[dict[str, type[Any]]] = {
    ui.Screen.LOGIN: LoginScreen,
    ui.Screen.HOME: HomeScreen,
    ui.Screen.SALE: SaleScreen,
    ui.Screen.RECEIPT: ReceiptScreen,
    ui.Screen.SHIFT: ShiftScreen,
    ui.Screen.MESSAGE: MessageScreen,
    ui.Screen.MEMBERS: MembersScreen,
    ui.Screen.BACKFILL: BackfillScreen,
    ui.Screen.RENEWAL: RenewalScreen,
    ui.Screen.REVERSAL: ReversalScreen,
    ui.Screen.REFUND: RefundScreen,
    ui.Screen.REFUND_CONFIRM: RefundConfirmScreen,
    ui.Screen.PROFILE: ProfileScreen,
    ui.Screen.REGISTER: RegisterScreen,
    ui.Screen.CONFIRM: CounterConfirmScreen,
}


class TerminalApp(App):  # type: ignore[misc]  # kivy ships no type hints
    lang = StringProperty(LANGUAGE_DEFAULT)
    presenter = ObjectProperty(None, allownone=True)
    header_staff = StringProperty("")
    header_card = StringProperty("")
    header_queue = StringProperty("")
    header_online = BooleanProperty(False)
    categories = ListProperty(list(CATEGORIES))
    category_labels = ListProperty(list(CATEGORIES))  # the picker, translated

    def __init__(
        self,
        runtime: DevicePort,
        staff_link: StaffLink,
        reader: CardReader | None = None,
        lang: str = LANGUAGE_DEFAULT,
        touch_keyboard: bool = False,
        printer: Printer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = "tapcard terminal"
        self.printer = printer  # the receipt printer of DATA/printer.json, if any
        self.runtime, self.staff_link, self.reader = runtime, staff_link, reader
        self.lang = lang
        self.touch_keyboard = touch_keyboard
        self.watcher: CardWatcher | None = None
        self.manager: ScreenManager | None = None
        self._tick: Any = None
        self.liveness = AppLiveness()

    def build(self) -> ScreenManager:
        kivyapp.register_cjk_font()
        kivyapp.flush_each_frame()
        if self.touch_keyboard:
            use_touch_keyboard()
        load_kv("theme")
        load_kv("tenders")  # the tender bar of the sale, the top-up and the renewal
        load_kv("home")  # the Header rule is shared by every screen after login
        self.manager = ScreenManager(transition=NoTransition())
        self.presenter = TerminalPresenter(
            self.runtime, self.staff_link, self.post, self._on_view, self.lang, printer=self.printer
        )
        self.watcher = kivyapp.card_watcher(self.runtime, self.reader, self.presenter)
        self._tick = Clock.schedule_interval(self._on_tick, TICK_S)
        return self.manager

    def screen(self, name: str) -> Any:
        assert self.manager is not None
        return kivyapp.lazy_screen(self.manager, KV_DIR, name, SCREEN_CLASSES)

    def _on_tick(self, _dt: float) -> None:
        assert self.presenter is not None
        self.presenter.tick()
        self.liveness.tick(self.watcher)

    def on_stop(self) -> None:
        self.liveness.stopping()
        if self._tick is not None:
            self._tick.cancel()
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.presenter is not None:
            self.presenter.stop()

    post = staticmethod(kivyapp.post)

    def _on_view(self, name: str, view: ui.TerminalView) -> None:
        header = getattr(view, "header", None)
        if header is not None:
            self.header_staff, self.header_card = header.staff, header.card
            self.header_queue, self.header_online = header.queue, header.online
        if self.presenter is not None:
            self.lang = self.presenter.t.lang
            labels = self.presenter.category_labels()
            if labels != list(self.category_labels):
                self.category_labels = labels
        self.screen(name).show(view)
        assert self.manager is not None
        self.manager.current = name
        done = isinstance(view, ui.ReceiptView) or (
            isinstance(view, ui.MessageView) and not view.error
        )
        if done or name == ui.Screen.LOGIN:
            self.forget_inputs()

    def forget_inputs(self) -> None:
        assert self.manager is not None
        for name, fields in INPUTS.items():
            if self.manager.has_screen(name):
                ids = self.manager.get_screen(name).ids
                for field in fields:
                    ids[field].text = ""
        for screen in self.manager.screens:  # the tender bars' part and reference
            if "tenders" in screen.ids:
                screen.ids.tenders.ids.part.text = screen.ids.tenders.ids.ref.text = ""

    def t(self, msgid: str, _lang: str = "") -> str:
        if self.presenter is None:
            return msgid
        text: str = self.presenter.t(msgid)
        return text

    def toggle_language(self) -> None:
        self.presenter.toggle_language()
        self.lang = self.presenter.t.lang

    def pay(self, payment: str) -> None:
        self.presenter.pay(Payment(payment))

    def pay_renewal(self, payment: str) -> None:
        """Pay cash / Pay stored value on the renewal screen: its confirmation."""
        self.presenter.confirms.renew(Payment(payment))

    def replace_card(self, old_card_id: str, waive_fee: bool = False) -> None:
        self.presenter.replace(old_card_id, waive_fee=waive_fee)
