"""Products at the counter: scanned, picked, priced by SKU at the hub.

Scenario: HQ saves a catalog at a real hub; it reaches the terminal over real mosquitto.
On the offscreen window a cashier logs in and a member taps. A USB barcode scanner types
into the focused scan field as a keyboard does (key events on the Window, then Enter): the
product's line shows its English name, price, quantity and member price; an unknown code
says so in plain words and adds nothing; + raises the quantity; the picker finds a
product by its Chinese name and a touch adds it; in Chinese the lines read in Chinese.
The cashier sees no free-amount entry. The sale is paid, and the hub booked the lines by
SKU at the catalog's prices. A manager may still ring up a free amount; a cashier's is
refused at the terminal with a translated message, and nothing is added.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub import db, products
from hub.staff import add_staff
from tapcard.domain.engine import SaleLine
from tapcard.domain.products import Product
from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from tests import kivy_env
from tests.clock import pinned_today
from tests.device.conftest import Rig, wait_until
from tests.terminal.conftest import PIN, Till

TIERS = ("regular", "silver", "gold", "platinum")
SHAMPOO = Product(
    "SH-1",
    "洗发水",
    "Shampoo",
    "personal_care",
    3_000,
    "6901234567892",
    {tier: 2_400 for tier in TIERS},
)
TEA = Product("TEA-1", "绿茶", "Green tea", "grocery", 500, "6900000000017")


def save_catalog(rig: Rig) -> int:
    with rig.seeded.hub.transaction() as conn:
        return products.save(conn, [SHAMPOO, TEA], "hq", "test", TIERS)


def scanner_types(text: str, enter: bool = True) -> None:
    """What a USB barcode scanner sends: a key down, the character and a key up for each
    digit, fast, then Enter; Kivy hands them to the focused field."""
    from kivy.core.window import Window

    for char in text:
        Window.dispatch("on_key_down", ord(char), 0, char, [])
        Window.dispatch("on_textinput", char)
        Window.dispatch("on_key_up", ord(char), 0)
    if enter:
        Window.dispatch("on_key_down", 13, 40, None, [])
        Window.dispatch("on_key_up", 13, 40)


def _press(button: Any) -> None:
    from kivy.tests.common import UnitTestTouch

    x, y = button.to_window(*button.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def _sale_screen_as_cashier(window_app: Any) -> tuple[Any, Any, Rig]:
    from tapcard.readers.sim import make_sim_card

    app, reader, rig = window_app
    with rig.seeded.hub.transaction() as conn:
        add_staff(conn, "bob", "Bob Wu", "shop-1", "cashier", PIN, "test")
    version = save_catalog(rig)
    wait_until(lambda: app.runtime.catalog.version == version, what="catalog at the till")
    p = app.presenter
    login = app.screen("login")
    login.ids.staff.text, login.ids.pin.text = "bob", PIN
    _press(login.ids.go)
    kivy_env.pump(lambda: p.screen == "home")
    issuer = rig.seeded.hub.secrets.issuer_key
    card = make_sim_card(
        issuer, b"\x44" * 32, rig.seeded.cards[0], b"\x04\x05\x06\x08", pinned_today()
    )
    reader.tap(card)
    kivy_env.pump(lambda: p.card is not None and p.card.snapshot is not None)
    p.sale()
    kivy_env.pump(lambda: p.screen == "sale")
    return app, app.screen("sale"), rig


def test_a_cashier_scans_picks_and_the_hub_prices_by_sku(window_app: Any) -> None:
    app, screen, rig = _sale_screen_as_cashier(window_app)
    p = app.presenter
    kivy_env.pump(lambda: screen.ids.scan.focus)  # ready for the scanner at once
    assert not screen.free_amounts and screen.ids.add_free.disabled  # a cashier's screen
    scanner_types(SHAMPOO.barcode)
    kivy_env.pump(lambda: len(p.lines) == 1)
    assert p.lines == [SaleLine("personal_care", 3_000, 1, "SH-1")]
    [row] = screen.ids.rows.children
    assert row.label.startswith("Shampoo\n¥30.00 \u00d7 1") and "Member price ¥24.00" in row.label
    assert screen.ids.scan.text == "" and screen.ids.scan.focus  # the next scan lands here
    scanner_types("4006381333931")
    kivy_env.pump(lambda: bool(screen.note))
    assert screen.note == "Unknown barcode 4006381333931: nothing added"
    assert len(p.lines) == 1
    [row] = screen.ids.rows.children
    _press(row.children[0])  # + (Kivy lists children last first)
    kivy_env.pump(lambda: p.lines[0].quantity == 2)
    screen.ids.search.text = "绿"  # typed on the keyboard: the picker opens
    kivy_env.pump(lambda: len(screen.ids.picker.children) == 1)
    assert screen.picking
    row_y = screen.ids.picker.children[0].to_window(0, 0)[1]
    assert 0 <= row_y < kivy_env.SCREEN_SIZE[1] - 96  # on screen, below the header
    kivy_env.shoot(app.manager, "terminal_sale_picker_en")
    _press(screen.ids.picker.children[0])
    kivy_env.pump(lambda: len(p.lines) == 2)
    assert not screen.picking and screen.ids.search.text == ""
    app.toggle_language()
    kivy_env.pump()
    labels = sorted(r.label for r in screen.ids.rows.children)
    assert labels[0].startswith("洗发水") and labels[1].startswith("绿茶")
    kivy_env.shoot(app.manager, "terminal_sale_products_zh")
    app.toggle_language()
    kivy_env.pump()
    kivy_env.shoot(app.manager, "terminal_sale_products_en")
    quote = p.quote
    assert quote is not None and screen.can_pay
    screen.ids.price.text = "500"  # left typed in a field
    app.pay("cash")
    kivy_env.pump(lambda: p.screen == "confirm")
    kivy_env.pump()  # a screen just switched to takes touches from its next frame
    _press(app.screen("confirm").ids.go)
    kivy_env.pump(lambda: p.screen == "receipt", timeout_s=20)
    assert (screen.ids.price.text, screen.ids.search.text, screen.ids.scan.text) == ("", "", "")
    with rig.seeded.hub.engine.connect() as conn:
        booked = conn.execute(
            sa.select(db.sale_lines.c.sku, db.sale_lines.c.quantity, db.sale_lines.c.gross_cents)
            .join(db.transfers, db.transfers.c.tx_id == db.sale_lines.c.tx_id)
            .where(db.transfers.c.device_id == "till-2")
            .order_by(db.sale_lines.c.line_no)
        ).all()
    assert [tuple(r) for r in booked] == [("SH-1", 2, 6_000), ("TEA-1", 1, 500)]
    # The hub's result: what it booked is what the terminal quoted from its catalog.
    assert f"Paid: {fmt.money(quote.net_cents)}" in p.view.lines


def test_free_amounts_are_for_a_manager_only(till: Till) -> None:
    version = save_catalog(till.rig)
    wait_until(lambda: till.runtime.catalog.version == version, what="catalog at the till")
    p = till.presenter
    p.login("bob", PIN)
    till.wait("home")
    p.sale()
    view = till.wait("sale")
    assert not view.free_amounts
    p.add_line("grocery", "12")
    view = till.wait("sale")
    assert p.lines == [] and view.note == "A manager must do this"
    p.set_language("zh")
    p.add_line("grocery", "12")
    assert (
        till.wait("sale").note
        == Translator("zh")("A manager must do this")
        != "A manager must do this"
    )
    p.sales.scan("123")
    assert till.wait("sale").note == "未知条码 123\uff1a未添加商品" and p.lines == []
    p.lock()
    p.login("ann", PIN)
    till.wait("home")
    p.sale()
    view = till.wait("sale")
    assert view.free_amounts and view.note == ""
    p.add_line("grocery", "12")
    assert p.lines == [SaleLine("grocery", 1_200, 1)]
