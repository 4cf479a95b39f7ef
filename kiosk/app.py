"""The kiosk's Kivy app: screens, kv files and the glue to the presenter.

Each screen's layout is in kv/<screen>.kv, loaded the first time the screen is shown.
Screens only copy view-model fields into their Kivy properties. Reader I/O runs on the
card watcher's thread and runtime calls on the presenter's worker; their results reach
the UI thread through Clock.schedule_once. While idle nothing is scheduled but a status
check every STATUS_CHECK_S, so the Pi's GPU and CPU rest.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any, Final

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.button import Button
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from kiosk.widgets import QrCode
from tapcard.device.port import DevicePort
from tapcard.readers import CardReader
from tapcard.ui import kiosk as ui
from tapcard.ui import kivyapp
from tapcard.ui.i18n import LANGUAGE_DEFAULT
from tapcard.ui.kiosk_qr import ENTER_KEYS, ScanBuffer, qr_matrix
from tapcard.ui.worker import AppLiveness, CardWatcher

KV_DIR: Final = Path(__file__).parent / "kv"
STATUS_CHECK_S: Final = 3.0
# A full garbage collection runs this long after the idle screen shows, when no member
# waits, so that the interpreter's own (a 0.3 s gen-2 pass was seen on a tap) rarely
# lands between a tap and its member screen.
IDLE_GC_DELAY_S: Final = 1.5
assert IDLE_GC_DELAY_S < STATUS_CHECK_S
REWARD_COLOURS: Final = {True: (0.10, 0.55, 0.85, 1), False: (0.3, 0.33, 0.4, 1)}


def load_kv(name: str) -> None:
    kivyapp.load_kv(KV_DIR, name)


__all__ = ["KioskApp", "QrCode"]


class IdleScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    branch = StringProperty("")
    badge = StringProperty("")
    prompt = StringProperty("")
    hint = StringProperty("")

    def show(self, view: ui.IdleView) -> None:
        self.branch, self.badge, self.prompt, self.hint = (
            view.branch,
            view.badge,
            view.prompt,
            view.hint,
        )


class BusyScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    message = StringProperty("")

    def show(self, view: str) -> None:
        self.message = view


class MemberScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    name_ = StringProperty("")
    tier = StringProperty("")
    points = StringProperty("")
    growth = StringProperty("")
    growth_pct = NumericProperty(0)
    stored_value = StringProperty("")
    expiry = StringProperty("")
    reminder = StringProperty("")
    points_expiry = StringProperty("")
    as_of = StringProperty("")
    note = StringProperty("")

    def show(self, view: ui.MemberView) -> None:
        self.name_ = view.name
        self.tier, self.points, self.growth = view.tier, view.points, view.growth
        self.growth_pct, self.stored_value, self.expiry = (
            view.growth_pct,
            view.stored_value,
            view.expiry,
        )
        self.reminder, self.as_of, self.note = view.reminder, view.as_of, view.note
        self.points_expiry = view.points_expiry
        self._show_rewards(view.rewards)

    def _show_rewards(self, rows: tuple[ui.RewardRow, ...]) -> None:
        """One button per catalog item, made once and then only relabelled: a tap makes
        no widgets, so it leaves no garbage for a slow collection in the next tap."""
        box = self.ids.rewards
        if [b.code for b in box.children[::-1]] != [row.code for row in rows]:
            box.clear_widgets()
            app = App.get_running_app()
            for row in rows:
                button = Button(halign="center", font_size="21sp", background_normal="")
                button.code = row.code
                button.bind(on_release=lambda b: app.presenter.choose(b.code))
                box.add_widget(button)
        for button, row in zip(box.children[::-1], rows, strict=True):
            button.text = f"{row.title}\n{row.cost}" + (f"  ({row.stock})" if row.stock else "")
            button.background_color = REWARD_COLOURS[row.affordable]


class ConfirmScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    title = StringProperty("")
    units_text = StringProperty("")
    can_more = BooleanProperty(False)
    can_less = BooleanProperty(False)
    cost = StringProperty("")
    after = StringProperty("")

    def show(self, view: ui.ConfirmView) -> None:
        self.title, self.units_text, self.cost, self.after = (
            view.title,
            view.units_text,
            view.cost,
            view.after,
        )
        self.can_more, self.can_less = view.can_more, view.can_less


class ResultScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    title = StringProperty("")
    voucher = StringProperty("")
    summary = StringProperty("")
    matrix = ListProperty([])

    def show(self, view: ui.ResultView) -> None:
        self.title, self.voucher = view.title, view.voucher
        self.summary = "\n".join(view.lines)
        self.matrix = qr_matrix(view.qr_data)


class RefusalScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    title = StringProperty("")
    detail = StringProperty("")

    def show(self, view: ui.RefusalView) -> None:
        self.title, self.detail = view.title, view.detail


SCREEN_CLASSES: Final[dict[str, type[Any]]] = {
    ui.IDLE: IdleScreen,
    ui.BUSY: BusyScreen,
    ui.MEMBER: MemberScreen,
    ui.CONFIRM: ConfirmScreen,
    ui.RESULT: ResultScreen,
    ui.REFUSAL: RefusalScreen,
}


class KioskApp(App):  # type: ignore[misc]  # kivy ships no type hints
    lang = StringProperty(LANGUAGE_DEFAULT)
    presenter = ObjectProperty(None, allownone=True)

    def __init__(
        self,
        runtime: DevicePort,
        reader: CardReader | None = None,
        branch_name: str = "",
        lang: str = LANGUAGE_DEFAULT,
        on_view: ui.ViewListener | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = "tapcard kiosk"
        self.runtime = runtime
        self.reader = reader
        self.branch_name = branch_name
        self.lang = lang
        self.watcher: CardWatcher | None = None
        self.liveness = AppLiveness()
        self.manager: ScreenManager | None = None
        self._timeout: Any = None
        self._status: Any = None
        self._idle_gc: Any = None
        self._frozen = False
        self._extra_on_view = on_view
        self.scans = ScanBuffer()

    # --- building ----------------------------------------------------------------------

    def build(self) -> ScreenManager:
        kivyapp.register_cjk_font()
        kivyapp.flush_each_frame()
        load_kv("theme")
        self.manager = ScreenManager(transition=NoTransition())
        self.presenter = ui.KioskPresenter(
            self.runtime, self.post, self._on_view, self.branch_name, self.lang
        )
        self.watcher = kivyapp.card_watcher(self.runtime, self.reader, self.presenter)
        self._status = Clock.schedule_interval(self._on_status_tick, STATUS_CHECK_S)
        self._idle_gc = Clock.schedule_once(self._collect, 0)  # after the first frame
        self._scanner(bind=True)
        return self.manager

    def screen(self, name: str) -> Any:
        """The screen `name`, loading its kv file the first time."""
        assert self.manager is not None
        return kivyapp.lazy_screen(self.manager, KV_DIR, name, SCREEN_CLASSES)

    def _on_status_tick(self, _dt: float) -> None:
        assert self.presenter is not None
        self.presenter.refresh_status()
        self.liveness.tick(self.watcher)

    def on_stop(self) -> None:
        self.liveness.stopping()
        self._scanner(bind=False)
        for event in (self._timeout, self._status, self._idle_gc):
            if event is not None:
                event.cancel()
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.presenter is not None:
            self.presenter.stop()

    # --- presenter glue -------------------------------------------------------------------

    post = staticmethod(kivyapp.post)

    # A USB scanner types into the focused window: there is no text field to focus (and
    # none for a touch to pop an on-screen keyboard over), so the window's keys are read.
    def _scanner(self, bind: bool) -> None:
        from kivy.core.window import Window  # made on import: only once the app runs

        handlers = {"on_textinput": self._on_scan_text, "on_key_down": self._on_scan_key}
        (Window.bind if bind else Window.unbind)(**handlers)

    def _on_scan_text(self, _window: Any, text: str) -> None:
        self.scans.typed(text, time.monotonic())

    def _on_scan_key(self, _window: Any, key: int, *_args: Any) -> bool:
        if key not in ENTER_KEYS or self.presenter is None:
            return False
        line = self.scans.enter()
        if line:
            self.presenter.on_scan(line)
        return True

    def _on_view(self, name: str, view: ui.KioskView) -> None:
        self.lang = self.presenter.t.lang if self.presenter is not None else self.lang
        screen = self.screen(name)
        screen.show(view)
        assert self.manager is not None
        self.manager.current = name
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        timeout_s = ui.TIMEOUTS_S.get(name)
        if timeout_s is not None:
            self._timeout = Clock.schedule_once(lambda _dt: self.presenter.on_timeout(), timeout_s)
        self._collect_when_idle(name)
        if self._extra_on_view is not None:
            self._extra_on_view(name, view)

    def _collect_when_idle(self, name: str) -> None:
        if self._idle_gc is not None:
            self._idle_gc.cancel()
            self._idle_gc = None
        if name == ui.IDLE and self._frozen:
            self._idle_gc = Clock.schedule_once(self._collect, IDLE_GC_DELAY_S)

    def _collect(self, _dt: float) -> None:
        """Nobody is at the kiosk: collect now. The first time, move everything that
        start-up made (Kivy, kv rules, fonts, the runtime) to the permanent generation,
        so later collections never scan it again."""
        self._idle_gc = None
        gc.collect()
        if not self._frozen:
            gc.freeze()
            self._frozen = True

    def t(self, msgid: str, _lang: str = "") -> str:
        """Texts in kv files: `app.t('Done', app.lang)` re-evaluates on a language switch."""
        if self.presenter is None:
            return msgid
        text: str = self.presenter.t(msgid)
        return text

    def toggle_language(self) -> None:
        self.presenter.toggle_language()
        self.lang = self.presenter.t.lang
