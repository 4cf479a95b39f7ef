"""The sale screen (terminal/kv/sale.kv): the lines with their +/- keys, the picker's
products, the scan field that a USB barcode scanner types into, and the totals."""

from __future__ import annotations

from typing import Any, Final

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from terminal.presenters import views as ui
from terminal.presenters.member_code import scan_member_code
from terminal.presenters.sale import PICK_ROWS_MAX, SALE_LINES_SHOWN_MAX

# Row widgets built when the screen first shows, then reused: a sale's lines and the
# picker's products (each a kv class, its properties exist once built).
ROWS_KEPT: Final = {"SaleLineRow": SALE_LINES_SHOWN_MAX, "ProductPickRow": PICK_ROWS_MAX}


class SaleScreen(Screen):  # type: ignore[misc]  # kivy ships no type hints
    lines = StringProperty("")
    totals = StringProperty("")
    note = StringProperty("")
    can_pay = BooleanProperty(False)
    picking = BooleanProperty(False)
    free_amounts = BooleanProperty(False)
    keyboard_summary = StringProperty("")  # the amount to pay, on the on-screen keyboard

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spare: dict[str, list[Any]] = {}

    def show(self, view: ui.SaleView) -> None:
        self.lines = "\n".join(view.lines)
        self.totals = "\n".join(view.totals)
        self.can_pay, self.note = view.can_pay, view.note
        self.keyboard_summary = view.due
        self.picking, self.free_amounts = bool(view.query), view.free_amounts
        if not view.query and self.ids.search.text:
            self.ids.search.text = ""  # a product was picked: the picker closes
        self._fill(self.ids.rows, "SaleLineRow", [(i, r.label) for i, r in enumerate(view.rows)])
        picked = [(p.sku, p.label) for p in view.picker]
        self._fill(self.ids.picker, "ProductPickRow", picked)
        Clock.schedule_once(self._keep_scan_focus, 0)

    def _fill(self, grid: Any, kind: str, rows: list[tuple[Any, str]]) -> None:
        """Show `rows` in `grid` with row widgets kept from before: building a row from
        its kv rule costs about 15 ms, so a scan must not rebuild the lines it keeps."""
        spare = self._spare.setdefault(kind, [])
        if not spare and not grid.children:
            spare += [getattr(Factory, kind)() for _ in range(ROWS_KEPT[kind])]
        shown = list(reversed(grid.children))  # Kivy lists children last first
        for widget in shown[len(rows) :]:
            grid.remove_widget(widget)
            spare.append(widget)
        for i, (key, label) in enumerate(rows):
            if i < len(shown):
                widget = shown[i]
            else:
                widget = spare.pop() if spare else getattr(Factory, kind)()
                grid.add_widget(widget)
            if kind == "SaleLineRow":
                widget.index, widget.label = key, label
            else:
                widget.sku, widget.text = key, label

    def scanned(self, code: str) -> None:
        """Enter in the scan field: the scanner's code (or one typed by hand); a member's
        QR code from the member page stands for a tap (presenters/member_code.py)."""
        self.ids.scan.text = ""
        presenter = App.get_running_app().presenter
        if not scan_member_code(presenter.desk, code, presenter.on_tap):
            presenter.sales.scan(code)

    def searched(self, text: str) -> None:
        """The picker's field as typed; not when it is emptied as the screen is left."""
        if self.manager is not None and self.manager.current == self.name:
            App.get_running_app().presenter.sales.search(text)

    def on_enter(self, *_args: Any) -> None:
        self._keep_scan_focus(0)

    def on_leave(self, *_args: Any) -> None:
        # Nothing typed outlives the screen: a paid sale, a lock or Back leaves no amount
        # or search for the next sale to take by mistake (the scan field empties at Enter).
        for field in self._fields():
            field.text = ""

    def _fields(self) -> list[Any]:
        """The screen's text fields, the tender bar's (terminal/kv/tenders.kv) too."""
        tenders = self.ids.tenders.ids
        return [self.ids[f] for f in ("scan", "search", "price")] + [tenders.part, tenders.ref]

    def _keep_scan_focus(self, _dt: float) -> None:
        """The scan field takes the keys whenever no other field is being typed in, so
        the next scan lands in it after a touch on a line's +/- or the picker."""
        if self.manager is None or self.manager.current != self.name:
            return
        if App.get_running_app().touch_keyboard:
            return  # the on-screen keyboard would cover the totals; staff touch the field
        # Any other field being typed in keeps the keys (the search, a free amount, the
        # payment's parts and reference, which a scanner may also type).
        others = [w for w in self._fields() if w is not self.ids.scan]
        if not any(w.focus for w in others):
            self.ids.scan.focus = True
