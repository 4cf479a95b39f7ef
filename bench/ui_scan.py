"""The terminal's scan -> line shown, beside a peer (bench/ui.py runs it after the kiosk).

The real terminal app (TerminalApp on an offscreen SDL2 window, 800x480) against a hub
and a private mosquitto in this process, with a catalog of CATALOG_PRODUCTS products
received over MQTT like a till in a shop. Staff log in, a member taps (so each line is
quoted with the member's price), the sale screen is up and its scan field has the focus.
A USB barcode scanner is key events on the Window: the digits are typed, then the
clock starts at the Enter key and stops at the first frame, rasterised (glFinish), that
shows the product's new line with its text drawn. Each scan adds a new line; the sale
is cleared (untimed) before it reaches the screen's line limit.

Peer: a bare Kivy TextInput in the same window that adds a Label with the typed text on
Enter, measured the same way: what Kivy's key handling, layout and drawing cost alone.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from tests import kivy_env  # Kivy's environment (offscreen SDL2), before Kivy is imported
from tests.clock import pinned_today

CATALOG_PRODUCTS: Final = 2_000
LINES_BEFORE_CLEAR: Final = 10  # the sale screen holds 12 lines
FRAMES_MAX: Final = 60  # a line not shown within this many frames is a failure
PIN: Final = "2468"
TIERS: Final = ("regular", "silver", "gold", "platinum")


def _barcode(i: int) -> str:
    return f"690{i:010d}"


def _type(text: str) -> None:
    from kivy.core.window import Window

    for char in text:
        Window.dispatch("on_key_down", ord(char), 0, char, [])
        Window.dispatch("on_textinput", char)
        Window.dispatch("on_key_up", ord(char), 0)


def _enter() -> None:
    from kivy.core.window import Window

    Window.dispatch("on_key_down", 13, 40, None, [])
    Window.dispatch("on_key_up", 13, 40)


def _frame() -> None:
    from kivy.base import EventLoop
    from kivy.graphics.opengl import glFinish

    EventLoop.idle()
    glFinish()


def _pump(until: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        _frame()


def _time_scans(
    count: int, grid: Any, code_of: Callable[[int], str], clear: Callable[[], None]
) -> list[float]:
    """Scan `count` codes; ms from each Enter to the frame that shows its new line."""
    times: list[float] = []
    for i in range(count):
        if i and i % LINES_BEFORE_CLEAR == 0:
            clear()
            _frame()
        before = len(grid.children)
        _type(code_of(i))
        _frame()  # the digits come before Enter, as a scanner sends them
        start = time.monotonic()
        _enter()
        for _ in range(FRAMES_MAX):
            _frame()
            rows = grid.children
            if len(rows) > before and _drawn(rows[0]):
                break
        else:
            raise SystemExit(f"scan {i}: the line was not shown")
        times.append((time.monotonic() - start) * 1000)
    return times


def _drawn(row: Any) -> bool:
    """The row's label has its text rendered (a Label of the peer, or a line's)."""
    labels = [row] if hasattr(row, "texture_size") else []
    labels += [w for w in row.walk() if hasattr(w, "texture_size") and w is not row]
    return any(w.texture_size[0] > 0 for w in labels if getattr(w, "text", ""))


def _catalog(count: int) -> list[Any]:
    from tapcard.domain.products import Product

    rng = random.Random(15)
    items = []
    for i in range(count):
        retail = rng.randrange(100, 50_000)
        member = {tier: retail * (95 - 5 * k) // 100 for k, tier in enumerate(TIERS)}
        name_zh, name_en = f"商品{i:04d}", f"Product {i:04d}"
        items.append(
            Product(f"P-{i:05d}", name_zh, name_en, "grocery", retail, _barcode(i), member)
        )
    return items


def measure_terminal_scan(count: int) -> dict[str, float]:
    """The terminal app in this process: log in, a member on the reader, `count` scans."""
    from _rig import make_rig, ready_runtime, wait_until

    from hub import products
    from hub.staff import add_staff
    from tapcard.readers.sim import SimReader, make_sim_card
    from terminal.app import TerminalApp
    from terminal.staff_link import StaffLink

    rig = make_rig(Path(tempfile.mkdtemp(prefix="bench-scan-")))
    with rig.hub.transaction() as conn:
        add_staff(conn, "ann", "Ann", "shop-1", "cashier", PIN, "bench")
        version = products.save(conn, _catalog(CATALOG_PRODUCTS), "hq", "bench", TIERS)
    window: Any = kivy_env.window()
    reader = SimReader()
    runtime = ready_runtime(rig, reader=reader)
    link = StaffLink(runtime.bundle)
    link.start()
    app = TerminalApp(runtime, link, reader, "zh")
    root = app.build()
    window.add_widget(root)
    try:
        link.connected.wait(10)
        wait_until(lambda: runtime.catalog.version == version, 30, "catalog at the till")
        p = app.presenter
        p.login("ann", PIN)
        _pump(lambda: p.screen == "home", 20, "login")
        issuer = rig.hub.secrets.issuer_key
        uid = b"\x04\x09\x08\x07"
        reader.tap(make_sim_card(issuer, b"\x55" * 32, rig.cards[0], uid, pinned_today()))
        _pump(lambda: p.card is not None and p.card.snapshot is not None, 20, "member")
        p.sale()
        screen = app.screen("sale")
        _pump(lambda: screen.ids.scan.focus, 10, "scan field focus")
        order = random.Random(7).sample(range(CATALOG_PRODUCTS), count)
        times = _time_scans(
            count, screen.ids.rows, lambda i: _barcode(order[i]), p.sales.clear_sale
        )
        assert len(p.lines) == (count - 1) % LINES_BEFORE_CLEAR + 1
    finally:
        app.dispatch("on_stop")
        window.remove_widget(root)
        link.stop()
        reader.close()
        runtime.stop()
        rig.close()
    return _figures(times)


def measure_peer_scan(count: int) -> dict[str, float]:
    """A bare TextInput that adds a Label per Enter, in the same window and font."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    window: Any = kivy_env.window()
    root = BoxLayout(orientation="vertical")
    grid = GridLayout(cols=1, size_hint_y=None, height=400)
    field = TextInput(multiline=False, text_validate_unfocus=False, font_size="22sp")

    def validated(widget: Any) -> None:
        grid.add_widget(Label(text=f"商品 Product {widget.text}", size_hint_y=None, height=48))
        widget.text = ""

    field.bind(on_text_validate=validated)
    root.add_widget(grid)
    root.add_widget(field)
    window.add_widget(root)
    try:
        field.focus = True
        _pump(lambda: field.focus, 10, "peer focus")
        times = _time_scans(count, grid, _barcode, grid.clear_widgets)
    finally:
        field.focus = False
        window.remove_widget(root)
    return _figures(times)


def _figures(times: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "scan_to_line_p50_ms": round(cuts[49], 1),
        "scan_to_line_p99_ms": round(cuts[98], 1),
        "scan_to_line_max_ms": round(max(times), 1),
    }
