"""The product catalog as the rules see it: what a SKU costs a member of a tier.

The hub keeps the catalog (hub/products.py) and publishes it to devices like the rules
(tapcard.wire.messages.ProductCatalog). A sale line that names a known SKU is priced
from the catalog, whatever the device sent: its retail price and category, its member
price for the member's tier (which supersedes the rule set's `price_lists` for that SKU)
and whether it earns points. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tapcard.domain.engine import (
    SALE_LINE_PRICE_CENTS_MAX,
    SALE_LINE_TEXT_LEN_MAX,
    Pricing,
    SaleLine,
)

PRODUCTS_MAX = 5_000  # a catalog published to devices holds at most this many
BARCODE_LEN_MAX = 32  # EAN-13, UPC-A, Code 128 as a USB scanner types them
PRODUCT_NAME_LEN_MAX = 64


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name_zh: str
    name_en: str
    category: str
    retail_cents: int
    barcode: str = ""
    # tier name -> member price in cents; a tier not named pays retail less its discount
    member_cents: dict[str, int] = field(default_factory=dict)
    points_excluded: bool = False  # earns no points, gets no tier discount or campaign

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") and self.name_zh else self.name_en


@dataclass(frozen=True, slots=True)
class PriceDifference:
    line: int
    sku: str
    device_cents: int
    catalog_cents: int


@dataclass(frozen=True, slots=True)
class Repriced:
    lines: tuple[SaleLine, ...]
    pricing: Pricing
    differences: tuple[PriceDifference, ...]  # lines whose device price was not the catalog's
    free: tuple[int, ...]  # lines that name no known SKU: free amounts


def validate_product(product: Product, tiers: Sequence[str] = ()) -> list[str]:
    """What is wrong with a product ('' list: nothing); `tiers` if given bounds the
    tier names its member prices may use."""
    errors: list[str] = []
    if not 1 <= len(product.sku) <= SALE_LINE_TEXT_LEN_MAX or product.sku != product.sku.strip():
        errors.append(f"sku is 1..{SALE_LINE_TEXT_LEN_MAX} characters without spaces around")
    if not 1 <= len(product.category) <= SALE_LINE_TEXT_LEN_MAX:
        errors.append(f"category is 1..{SALE_LINE_TEXT_LEN_MAX} characters")
    if len(product.barcode) > BARCODE_LEN_MAX or not _ascii_alnum(product.barcode):
        errors.append(f"barcode is at most {BARCODE_LEN_MAX} letters and digits")
    if not (product.name_zh or product.name_en):
        errors.append("a product needs a name in Chinese or English")
    if max(len(product.name_zh), len(product.name_en)) > PRODUCT_NAME_LEN_MAX:
        errors.append(f"a name is at most {PRODUCT_NAME_LEN_MAX} characters")
    if not 0 <= product.retail_cents <= SALE_LINE_PRICE_CENTS_MAX:
        errors.append(f"retail price must be within 0..{SALE_LINE_PRICE_CENTS_MAX} cents")
    for tier, cents in product.member_cents.items():
        if tiers and tier not in tiers:
            errors.append(f"tier {tier} is not in the rules")
        if not 0 <= cents <= product.retail_cents:
            errors.append(f"member price of {tier} must be within 0..the retail price")
    return errors


def _ascii_alnum(text: str) -> bool:
    return text.isascii() and (text.isalnum() or not text)


def reprice(products: Mapping[str, Product], tier: str, lines: Sequence[SaleLine]) -> Repriced:
    """The lines as the catalog prices them for a member of `tier`: a known SKU takes
    the catalog's retail price and category; the rest stay as sent (free amounts)."""
    out: list[SaleLine] = []
    member: dict[str, int] = {}
    excluded: set[str] = set()
    differences: list[PriceDifference] = []
    free: list[int] = []
    for i, line in enumerate(lines):
        product = products.get(line.sku) if line.sku else None
        if product is None:
            out.append(line)
            free.append(i)
            continue
        if line.unit_price_cents != product.retail_cents:
            differences.append(
                PriceDifference(i, line.sku, line.unit_price_cents, product.retail_cents)
            )
        out.append(SaleLine(product.category, product.retail_cents, line.quantity, line.sku))
        if tier in product.member_cents:
            member[line.sku] = product.member_cents[tier]
        if product.points_excluded:
            excluded.add(line.sku)
    pricing = Pricing(member_cents=member, points_excluded=frozenset(excluded))
    return Repriced(tuple(out), pricing, tuple(differences), tuple(free))


def by_barcode(products: Sequence[Product]) -> dict[str, Product]:
    return {p.barcode: p for p in products if p.barcode}


@dataclass(frozen=True, slots=True)
class Catalog:
    """The products a batch of sales names, as the hub prices them.

    `in_use`: the hub has a catalog at all (a hub without one prices by the lines and the
    rules' price lists, as before the catalog). `free_amounts`: the sender may sell lines
    that name no known SKU (a manager at the counter)."""

    version: int
    products: Mapping[str, Product]
    in_use: bool = True
    free_amounts: bool = False
