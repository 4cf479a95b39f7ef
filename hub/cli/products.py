"""`tapcard hub product add | list | import | remove`: the product catalog (hub/products.py).

Amounts are typed and shown in yuan; every change is a new catalog version, audited,
which the running hub publishes to devices."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hub import products
from hub.app import Hub
from hub.cli.common import actor_of, add_command, open_hub, print_data, yuan
from tapcard.domain.products import Product

LIST_COLUMNS = ["sku", "barcode", "name_zh", "name_en", "category", "retail_cents", "members"]


def _tiers(hub: Hub) -> tuple[str, ...]:
    return tuple(t.name for t in hub.rules.latest().tiers)


def _cents(text: str) -> int:
    try:
        return products.cents_of_yuan(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _price(text: str) -> tuple[str, int]:
    tier, sep, amount = text.partition("=")
    if not sep or not tier:
        raise argparse.ArgumentTypeError(f"{text!r} is not TIER=YUAN")
    return tier.strip(), _cents(amount)


def row_of(p: Product) -> dict[str, Any]:
    members = ", ".join(f"{t} {yuan(c)}" for t, c in sorted(p.member_cents.items()))
    return {
        "sku": p.sku,
        "barcode": p.barcode,
        "name_zh": p.name_zh,
        "name_en": p.name_en,
        "category": p.category,
        "retail_cents": p.retail_cents,
        "members": members,
        "member_cents": dict(p.member_cents),
        "points_excluded": p.points_excluded,
    }


def cmd_product_add(args: argparse.Namespace) -> int:
    """Add a product, or replace the one with this SKU."""
    hub = open_hub(args)
    product = Product(
        sku=args.sku,
        barcode=args.barcode or "",
        name_zh=args.name_zh or "",
        name_en=args.name_en or "",
        category=args.category,
        retail_cents=args.retail,
        member_cents=dict(args.price or []),
        points_excluded=args.no_points,
    )
    with hub.transaction() as conn:
        version = products.save(conn, [product], actor_of(args), f"saved {args.sku}", _tiers(hub))
    print(f"product {args.sku} saved: catalog version {version}")
    return 0


def cmd_product_list(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        found, total = products.search(conn, args.search or "", args.offset, args.limit)
    rows = [row_of(p) for p in found]
    if args.json:
        print_data(args, {"total": total, "products": rows})
        return 0
    print_data(args, rows, LIST_COLUMNS)
    print(f"{len(rows)} of {total} products")
    return 0


def cmd_product_import(args: argparse.Namespace) -> int:
    """Add or replace every product of a CSV file, or nothing if a row is bad."""
    hub = open_hub(args)
    text = Path(args.file).read_text(encoding="utf-8-sig")
    tiers = _tiers(hub)
    parsed = products.parse_csv(text, tiers)
    if parsed.errors:
        for error in parsed.errors:
            print(f"row {error.row}: {error.message}")
        print(f"nothing imported: {len(parsed.errors)} bad rows")
        return 2
    with hub.transaction() as conn:
        version = products.import_csv(conn, text, actor_of(args), tiers)
    print(f"{len(parsed.products)} products imported: catalog version {version}")
    return 0


def cmd_product_remove(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        version = products.remove(conn, args.sku, actor_of(args))
    print(f"product {args.sku} removed: catalog version {version}")
    return 0


def register(cmds: Any) -> None:
    product = cmds.add_parser("product", help="the product catalog").add_subparsers(
        dest="product_command", required=True
    )
    add = add_command(product, "add", cmd_product_add, "add or replace a product")
    add.add_argument("sku")
    add.add_argument("--category", required=True)
    add.add_argument("--retail", type=_cents, required=True, help="retail price in yuan")
    add.add_argument("--name-zh", help="the name in Chinese")
    add.add_argument("--name-en", help="the name in English")
    add.add_argument("--barcode", help="as the scanner reads it (EAN-13, UPC-A ...)")
    add.add_argument(
        "--price", type=_price, action="append", help="a member price, TIER=YUAN (repeatable)"
    )
    add.add_argument("--no-points", action="store_true", help="earns no points")
    listing = add_command(product, "list", cmd_product_list, "list products", read=True)
    listing.add_argument("--search", help="part of a SKU, barcode, name or category")
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--limit", type=int, default=50)
    imp = add_command(product, "import", cmd_product_import, "import products from a CSV file")
    imp.add_argument(
        "file",
        help="CSV: sku,barcode,name_zh,name_en,category,retail_yuan[,points_excluded]"
        "[,price_<tier>...] (yuan)",
    )
    remove = add_command(product, "remove", cmd_product_remove, "remove a product")
    remove.add_argument("sku")
