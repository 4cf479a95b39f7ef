"""Ringing up a sale: lines from the hub's product catalog (a scanned barcode, or a
product picked by name or SKU), free "category + amount" lines for staff who may sell
them, the engine's quote for the member on the reader (member price, tier discount,
campaigns, points), and payment (terminal/presenters/payment.py), each sale confirmed
first on the confirmation screen and booked from there (`book`).

A USB barcode scanner types the code and Enter into the focused scan field like a
keyboard (terminal/kv/sale.kv); `scan` adds the product's line or says the code is
unknown and adds nothing. The lines carry the SKU and the catalog's retail price: the
hub prices them again by SKU for the member's tier, whatever the device sent. The hub
takes a free amount (a line without a known SKU) only from a manager while it has a
catalog, so the terminal offers it to a manager, or to anyone while no catalog has
reached the device (the hub then prices lines as sent, as before the catalog).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from tapcard.device.catalog import DeviceCatalog
from tapcard.domain.engine import SALE_LINE_QUANTITY_MAX, SaleLine, SaleQuote
from tapcard.domain.model import Payment
from tapcard.domain.products import Product
from tapcard.errors import TapcardError
from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from terminal.presenters.campaigns import campaign_label
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import TENDER_LABELS, discount_rows, item_rows, offline_rows
from terminal.presenters.transactions import Kind, Printed, Transactions
from terminal.presenters.views import PickRow, SaleRow, SaleView, Screen

SALE_LINES_SHOWN_MAX: Final = 12
PICK_ROWS_MAX: Final = 20  # the picker's rows; typing more of the name narrows them
CATEGORIES: Final = ("grocery", "fuel", "car_wash", "service", "group_buy", "special_offer")


def lines_total(lines: Sequence[SaleLine]) -> int:
    return sum(line.unit_price_cents * line.quantity for line in lines)


def category_code(t: Translator, text: str) -> str:
    """The category for a picker entry (a label in either language, or the code)."""
    for code in CATEGORIES:
        if text in (code, t(code), Translator("en")(code)):
            return code
    return text


class SalePresenter:
    def __init__(self, desk: Desk, transactions: Transactions) -> None:
        self.desk = desk
        self.transactions = transactions
        self.quote: SaleQuote | None = None
        self.note = ""  # why the last scan or entry added nothing, shown on the screen
        self.query = ""  # the picker's search text ("": the picker is closed)
        desk.on_sign_out.append(self._forget)

    def sale(self) -> None:
        if self.desk.guard():
            self.note = self.query = ""
            self.requote()

    def category_labels(self) -> list[str]:
        """The category picker's entries, in the current language."""
        return [self.desk.t(code) for code in CATEGORIES]

    def category_code(self, text: str) -> str:
        return category_code(self.desk.t, text)

    def free_amounts(self) -> bool:
        """Whether the hub takes a free amount from the staff logged in."""
        d = self.desk
        return d.manager() or not d.port.catalog.by_sku

    # --- lines from the catalog --------------------------------------------------------

    def scan(self, code: str) -> None:
        """What the scan field got before Enter: a barcode (or a SKU label)."""
        d = self.desk
        if not d.guard():
            return
        code = code.strip()
        if not code:
            return
        product = d.port.catalog.scanned(code)
        if product is None:
            self.note = d.t("Unknown barcode {code}: nothing added", code=code[:40])
            self.requote()
            return
        self._add_product(product)

    def pick(self, sku: str) -> None:
        """A product touched in the picker: its line, and the picker closes."""
        d = self.desk
        if not d.guard():
            return
        product = d.port.catalog.by_sku.get(sku)
        self.query = ""
        if product is None:  # a newer catalog came while the picker was open
            self.note = d.t("This product is no longer in the catalog")
            self.requote()
            return
        self._add_product(product)

    def search(self, text: str) -> None:
        """The picker's search field as typed: products by name (zh or en) or SKU."""
        if self.desk.guard():
            self.query = text.strip()
            self.requote()

    def _add_product(self, product: Product) -> None:
        lines = self.desk.sale_lines
        self.note = ""
        for i, line in enumerate(lines):
            if line.sku == product.sku:
                self.change_quantity(i, 1)
                return
        if len(lines) >= SALE_LINES_SHOWN_MAX:
            self.note = self.desk.t("A sale holds at most {n} lines", n=SALE_LINES_SHOWN_MAX)
        else:
            lines.append(SaleLine(product.category, product.retail_cents, 1, product.sku))
        self.requote()

    def change_quantity(self, index: int, delta: int) -> None:
        """+1 or -1 on a line; a line taken down from 1 goes."""
        d = self.desk
        d.touch()
        if not 0 <= index < len(d.sale_lines):
            return
        line = d.sale_lines[index]
        quantity = line.quantity + delta
        if quantity <= 0:
            del d.sale_lines[index]
        else:
            quantity = min(quantity, SALE_LINE_QUANTITY_MAX)
            d.sale_lines[index] = SaleLine(line.category, line.unit_price_cents, quantity, line.sku)
        self.requote()

    # --- free amounts --------------------------------------------------------------------

    def add_line(self, category: str, amount_text: str, quantity: int = 1) -> None:
        d = self.desk
        d.touch()
        if not self.free_amounts():
            self.note = d.t("A manager must do this")
            self.requote()
            return
        category = self.category_code(category)
        cents = fmt.parse_money(amount_text)
        if cents is None or cents <= 0 or category not in CATEGORIES:
            d.message(d.t("Please check the entries"))
            return
        self.note = ""
        if len(d.sale_lines) < SALE_LINES_SHOWN_MAX:
            d.sale_lines.append(SaleLine(category, cents, quantity))
        self.requote()

    def clear_sale(self) -> None:
        self.desk.sale_lines.clear()
        self.note = ""
        self.requote()

    def _forget(self) -> None:
        self.note = self.query = ""
        self.quote = None

    # --- the screen ------------------------------------------------------------------------

    def requote(self) -> None:
        d = self.desk
        card, lines = d.card, d.sale_lines
        self.quote = None
        snapshot = card.snapshot if card is not None else None
        if lines and snapshot is not None and snapshot.found:
            try:
                self.quote = d.port.quote_sale(snapshot, lines)
            except TapcardError:
                self.quote = None
        tier = snapshot.tier if snapshot is not None and snapshot.found else ""
        catalog = d.port.catalog
        rows = tuple(self._row(catalog, tier, line) for line in lines)
        can_pay = bool(self.quote and card)
        totals = self._totals()
        due = self.desk.t("To pay") + f" {fmt.money(self.quote.net_cents)}" if self.quote else ""
        view = SaleView(
            d.header(),
            tuple(row.label for row in rows),
            totals,
            can_pay,
            rows=rows,
            note=self.note,
            query=self.query,
            picker=self._picker(catalog, tier),
            free_amounts=self.free_amounts(),
            due=due or totals[0],
        )
        d.show(Screen.SALE, view)

    def _row(self, catalog: DeviceCatalog, tier: str, line: SaleLine) -> SaleRow:
        t = self.desk.t
        product = catalog.by_sku.get(line.sku) if line.sku else None
        name = product.name(t.lang) if product is not None else t(line.category)
        # Two lines, so that a long name never hides the price or the quantity.
        label = f"{name}\n{fmt.money(line.unit_price_cents)} \u00d7 {line.quantity}"
        member = product.member_cents.get(tier) if product is not None and tier else None
        if member is not None and member < line.unit_price_cents:
            label += "  " + t("Member price") + f" {fmt.money(member)}"
        return SaleRow(label, line.quantity, line.sku)

    def _picker(self, catalog: DeviceCatalog, tier: str) -> tuple[PickRow, ...]:
        if not self.query:
            return ()
        rows = []
        for p in catalog.search(self.query, PICK_ROWS_MAX):
            price = p.member_cents.get(tier, p.retail_cents) if tier else p.retail_cents
            rows.append(PickRow(p.sku, f"{p.name(self.desk.t.lang)} · {p.sku}  {fmt.money(price)}"))
        return tuple(rows)

    def _totals(self) -> tuple[str, ...]:
        t, q = self.desk.t, self.quote
        if q is None:
            gross = lines_total(self.desk.sale_lines)
            return (t("Total") + f" {fmt.money(gross)}", t("Tap the member's card"))
        rows = [t("Retail") + f" {fmt.money(q.gross_cents)}"]
        if q.member_price_saving_cents:
            rows.append(t("Member price") + f" -{fmt.money(q.member_price_saving_cents)}")
        if q.tier_discount_cents:
            rows.append(t("Tier discount") + f" -{fmt.money(q.tier_discount_cents)}")
        for code, off in q.campaign_offs:  # by name, never the code
            rows.append(f"{campaign_label(t, self.desk.port.rules, code)} -{fmt.money(off)}")
        rows.append(t("To pay") + f" {fmt.money(q.net_cents)}")
        rows.append(t("Points to earn") + f" {q.points}")
        if q.remainder_cents:
            rows.append(t("Remainder earning nothing") + f" {fmt.money(q.remainder_cents)}")
        if q.excluded_cents:
            rows.append(t("Excluded from points") + f" {fmt.money(q.excluded_cents)}")
        return tuple(rows)

    def book(self, card_id: str, lines: list[SaleLine], quote: SaleQuote, payment: Payment) -> None:
        """The sale as confirmed, by one tender without a reference."""
        d = self.desk
        self.transactions.submit(
            Kind.SALE,
            lambda seen: d.port.purchase(card_id, lines, payment, staff=d.staff_id(), seen=seen),
            takings=(f"sale_{payment.value}", quote.net_cents),
            booked=d.sale_lines.clear,
            printed=Printed(
                items=item_rows(d, lines),
                tenders=((d.t(TENDER_LABELS[payment]), fmt.money(quote.net_cents)),),
                discounts=discount_rows(d, quote),
                offline=offline_rows(d, quote),
            ),
        )
