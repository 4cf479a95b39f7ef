"""Product pricing: a known SKU is priced from the catalog for the member's tier.

Scenario: a catalog of a shampoo (retail ¥30, silver ¥27, gold ¥25), a cigarette pack
excluded from points and a tea without member prices. Whatever price the device sent,
a known SKU's line takes the catalog's retail price and category; the member price of
the member's tier replaces the tier discount (and supersedes the rule set's price list
for that SKU); a tier without a catalog price gets its tier discount; an excluded SKU
earns nothing. Lines naming no known SKU stay as sent and are counted as free amounts.
"""

from __future__ import annotations

from tapcard.domain.engine import quote_sale
from tapcard.domain.products import Product, reprice, validate_product

from .helpers import D, line, make_rules, member

ON = D(2026, 6, 10)
SHAMPOO = Product(
    "SH-1",
    "洗发水",
    "Shampoo",
    "personal_care",
    3_000,
    barcode="6901234567892",
    member_cents={"silver": 2_700, "gold": 2_500},
)
CIGS = Product("CG-1", "香烟", "Cigarettes", "tobacco", 2_000, points_excluded=True)
TEA = Product("TE-1", "绿茶", "Green tea", "drinks", 1_000)
CATALOG = {p.sku: p for p in (SHAMPOO, CIGS, TEA)}


def _quote(tier: str, *lines_: object) -> tuple[int, int, int]:
    priced = reprice(CATALOG, tier, list(lines_))  # type: ignore[arg-type]
    rules = make_rules(price_lists={"gold": {"SH-1": 2_900}})  # the catalog supersedes it
    quote = quote_sale(rules, member(tier), priced.lines, ON, priced.pricing)
    assert quote.net_cents + quote.discount_cents == quote.gross_cents
    return quote.gross_cents, quote.net_cents, quote.points


def test_the_member_price_of_the_tier_replaces_what_the_device_sent() -> None:
    sent = line(1, "whatever", quantity=2, sku="SH-1")  # a stale or tampered price
    assert _quote("regular", sent) == (6_000, 6_000, 60)
    assert _quote("silver", sent) == (6_000, 5_400, 54)
    assert _quote("gold", sent) == (6_000, 5_000, 50)  # not the price list's 2_900


def test_the_difference_and_the_catalog_category_are_recorded() -> None:
    priced = reprice(CATALOG, "gold", [line(1, "whatever", sku="SH-1"), line(1_000, sku="TE-1")])
    assert priced.lines[0].category == "personal_care"
    assert priced.lines[0].unit_price_cents == 3_000
    [diff] = priced.differences  # the tea was sent at its catalog price
    assert (diff.line, diff.device_cents, diff.catalog_cents) == (0, 1, 3_000)
    assert priced.free == ()


def test_a_tier_without_a_catalog_price_gets_its_tier_discount() -> None:
    assert _quote("gold", line(1_000, sku="TE-1")) == (1_000, 950, 9)  # 5 % off


def test_an_excluded_product_earns_nothing_and_gets_no_discount() -> None:
    assert _quote("gold", line(2_000, sku="CG-1")) == (2_000, 2_000, 0)
    gross, net, points = _quote("gold", line(2_000, sku="CG-1"), line(3_000, sku="SH-1"))
    assert (gross, net, points) == (5_000, 4_500, 25)


def test_unknown_skus_and_free_amounts_stay_as_sent() -> None:
    lines = [line(500, sku="NOPE"), line(700), line(3_000, sku="SH-1")]
    priced = reprice(CATALOG, "regular", lines)
    assert priced.free == (0, 1)
    assert priced.lines[:2] == tuple(lines[:2])


def test_a_bad_product_is_described() -> None:
    bad = Product(" X", "", "", "", -1, barcode="12 34", member_cents={"gold": 5, "vip": 1})
    errors = validate_product(bad, ("regular", "gold"))
    assert len(errors) == 8, errors  # sku, category, barcode, name, retail, gold, vip twice
    assert validate_product(SHAMPOO, ("regular", "silver", "gold")) == []
