"""The product catalog at the hub: products by SKU, member prices by tier, CSV import.

Every change makes a new catalog version (product_catalogs) and an audit row; the hub
publishes the newest version to devices, signed and retained like the rules
(hub/duties.py). The ledger loads the products a batch of sales names (`catalog_for`)
and hub/decide.py prices those lines from them (tapcard.domain.products). Tables in
hub/product_schema.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.staff_sessions import StaffCheck
from tapcard.domain.model import StaffRole
from tapcard.domain.products import PRODUCTS_MAX, Product, validate_product
from tapcard.domain.products import Catalog as Catalog  # noqa: PLC0414 (the ledger.s)
from tapcard.errors import TapcardError
from tapcard.wire.messages import Purchase, TxIntent

CSV_BYTES_MAX = 4_000_000  # a CSV import of PRODUCTS_MAX rows with every column fits
CSV_COLUMNS = ("sku", "barcode", "name_zh", "name_en", "category", "retail_yuan")
PRICE_COLUMN_PREFIX = "price_"  # price_gold: the member price of tier gold, in yuan
PAGE_ROWS_MAX = 200
NOTE_CHARS_MAX = 200
_TRUE = {"1", "yes", "y", "true", "是"}
_FALSE = {"", "0", "no", "n", "false", "否"}


class ProductError(TapcardError):
    """A product or an import that cannot be taken; nothing was changed."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # the CSV's line number (1: the header)
    message: str


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    products: tuple[Product, ...]
    errors: tuple[RowError, ...]


def cents_of_yuan(text: str) -> int:
    """ "12.50" or "¥1,234" -> integer cents; anything else (or finer than a cent) is an error."""
    clean = text.strip().replace("¥", "").replace(",", "")
    try:
        value = Decimal(clean) * 100
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount in yuan") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"{text!r} is not an amount in yuan (at most 2 decimals, >= 0)")
    return int(value)


# --- reading --------------------------------------------------------------------------


def version(conn: Connection) -> int:
    """The catalog's newest version (0: no catalog yet)."""
    return int(conn.execute(sa.select(sa.func.max(db.product_catalogs.c.version))).scalar() or 0)


def load(conn: Connection, skus: Iterable[str] | None = None) -> dict[str, Product]:
    """The products by SKU: those named (None: all of them)."""
    p, pp = db.products, db.product_prices
    query, prices = sa.select(p), sa.select(pp)
    if skus is not None:
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        query, prices = query.where(p.c.sku.in_(wanted)), prices.where(pp.c.sku.in_(wanted))
    member: dict[str, dict[str, int]] = {}
    for row in conn.execute(prices):
        member.setdefault(row.sku, {})[row.tier] = int(row.member_cents)
    return {row.sku: _product(row, member.get(row.sku, {})) for row in conn.execute(query)}


def _product(row: sa.Row[tuple[object, ...]], member: dict[str, int]) -> Product:
    m = row._mapping
    return Product(
        sku=str(m["sku"]),
        barcode=str(m["barcode"] or ""),
        name_zh=str(m["name_zh"]),
        name_en=str(m["name_en"]),
        category=str(m["category"]),
        retail_cents=int(str(m["retail_cents"])),
        member_cents=member,
        points_excluded=bool(m["points_excluded"]),
    )


def catalog_for(conn: Connection, skus: Iterable[str], free_amounts: bool) -> Catalog:
    """What the ledger decides a batch's sales with: the named products, whether the hub
    has a catalog at all, and whether the sender may sell free amounts."""
    current = version(conn)
    return Catalog(current, load(conn, skus), in_use=current > 0, free_amounts=free_amounts)


def search(
    conn: Connection, text: str = "", offset: int = 0, limit: int = 50
) -> tuple[list[Product], int]:
    """One page of products whose SKU, barcode or names contain `text`, and the total."""
    p = db.products
    where: sa.ColumnElement[bool] = sa.true()
    if text.strip():
        like = f"%{text.strip()}%"
        columns = (p.c.sku, p.c.barcode, p.c.name_zh, p.c.name_en, p.c.category)
        where = sa.or_(*(c.ilike(like) for c in columns))
    total = int(conn.execute(sa.select(sa.func.count()).select_from(p).where(where)).scalar() or 0)
    limit = max(1, min(limit, PAGE_ROWS_MAX))
    skus = conn.execute(
        sa.select(p.c.sku).where(where).order_by(p.c.sku).offset(max(0, offset)).limit(limit)
    ).scalars()
    found = load(conn, list(skus))
    return [found[sku] for sku in sorted(found)], total


# --- changing -------------------------------------------------------------------------


def save(
    conn: Connection, products: Sequence[Product], actor: str, note: str, tiers: Sequence[str]
) -> int:
    """Add or replace these products (all or none) as a new catalog version; returns it."""
    errors = [f"{p.sku or '?'}: {e}" for p in products for e in validate_product(p, tiers)]
    if errors:
        raise ProductError("; ".join(errors))
    _check_barcodes(conn, products)
    skus = [p.sku for p in products]
    existing = set(
        conn.execute(sa.select(db.products.c.sku).where(db.products.c.sku.in_(skus))).scalars()
    )
    count = int(conn.execute(sa.select(sa.func.count()).select_from(db.products)).scalar() or 0)
    if count + len(set(skus) - existing) > PRODUCTS_MAX:
        raise ProductError(f"the catalog holds at most {PRODUCTS_MAX} products")
    now = db.now_ms(conn)
    conn.execute(db.product_prices.delete().where(db.product_prices.c.sku.in_(skus)))
    conn.execute(db.products.delete().where(db.products.c.sku.in_(skus)))
    conn.execute(db.products.insert(), [_row(p, now) for p in products])
    prices = [
        {"sku": p.sku, "tier": t, "member_cents": c}
        for p in products
        for t, c in p.member_cents.items()
    ]
    if prices:
        conn.execute(db.product_prices.insert(), prices)
    return _new_version(conn, actor, "product.save", ",".join(skus), note)


def remove(conn: Connection, sku: str, actor: str) -> int:
    """Take a product out of the catalog as a new version; returns it."""
    gone = conn.execute(db.products.delete().where(db.products.c.sku == sku)).rowcount
    if not gone:
        raise ProductError(f"no product {sku}")
    conn.execute(db.product_prices.delete().where(db.product_prices.c.sku == sku))
    return _new_version(conn, actor, "product.remove", sku, f"removed {sku}")


def _check_barcodes(conn: Connection, products: Sequence[Product]) -> None:
    seen: dict[str, str] = {}
    for p in products:
        if p.barcode and seen.setdefault(p.barcode, p.sku) != p.sku:
            raise ProductError(f"barcode {p.barcode} is on {seen[p.barcode]} and {p.sku}")
    if not seen:
        return
    t = db.products
    taken = conn.execute(sa.select(t.c.barcode, t.c.sku).where(t.c.barcode.in_(sorted(seen))))
    for barcode, sku in taken:
        if sku != seen[barcode]:
            raise ProductError(f"barcode {barcode} is already on {sku}")


def _row(p: Product, now_ms: int) -> dict[str, object]:
    return {
        "sku": p.sku,
        "barcode": p.barcode or None,
        "name_zh": p.name_zh,
        "name_en": p.name_en,
        "category": p.category,
        "retail_cents": p.retail_cents,
        "points_excluded": p.points_excluded,
        "updated_ms": now_ms,
    }


def _new_version(conn: Connection, actor: str, action: str, target: str, note: str) -> int:
    new = version(conn) + 1
    conn.execute(
        db.product_catalogs.insert().values(
            version=new, changed_ms=db.now_ms(conn), actor=actor[:64], note=note[:NOTE_CHARS_MAX]
        )
    )
    audit(conn, actor, action, target[:NOTE_CHARS_MAX], {"catalog_version": new, "note": note})
    return new


# --- CSV ------------------------------------------------------------------------------


def parse_csv(text: str, tiers: Sequence[str]) -> ParsedCsv:
    """The products of a CSV (header: CSV_COLUMNS, optional points_excluded and one
    price_<tier> column per tier, amounts in yuan) and each bad row's error."""
    if len(text.encode()) > CSV_BYTES_MAX:
        return ParsedCsv((), (RowError(0, f"the file is over {CSV_BYTES_MAX} bytes"),))
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        return ParsedCsv((), (RowError(1, f"missing columns: {', '.join(missing)}"),))
    unknown = [h[len(PRICE_COLUMN_PREFIX) :] for h in header if h.startswith(PRICE_COLUMN_PREFIX)]
    unknown = [t for t in unknown if t not in tiers]
    if unknown:
        return ParsedCsv((), (RowError(1, f"no such tier: {', '.join(unknown)}"),))
    products: list[Product] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        try:
            product = _csv_product(row, tiers)
        except ValueError as exc:
            errors.append(RowError(number, str(exc)))
            continue
        problems = validate_product(product, tiers)
        if product.sku in seen:
            problems.append(f"sku {product.sku} is on an earlier row too")
        seen.add(product.sku)
        errors += [RowError(number, e) for e in problems]
        if not problems:
            products.append(product)
    if len(products) > PRODUCTS_MAX:
        errors.append(RowError(0, f"at most {PRODUCTS_MAX} products"))
    return ParsedCsv(tuple(products), tuple(errors))


def _csv_product(row: dict[str, str], tiers: Sequence[str]) -> Product:
    flag = row.get("points_excluded", "").lower()
    if flag not in _TRUE | _FALSE:
        raise ValueError(f"points_excluded {flag!r} is not yes or no")
    member = {
        tier: cents_of_yuan(row[f"{PRICE_COLUMN_PREFIX}{tier}"])
        for tier in tiers
        if row.get(f"{PRICE_COLUMN_PREFIX}{tier}")
    }
    return Product(
        sku=row["sku"],
        barcode=row["barcode"],
        name_zh=row["name_zh"],
        name_en=row["name_en"],
        category=row["category"],
        retail_cents=cents_of_yuan(row["retail_yuan"]),
        member_cents=member,
        points_excluded=flag in _TRUE,
    )


def import_csv(conn: Connection, text: str, actor: str, tiers: Sequence[str]) -> int:
    """Add or replace every product of a CSV as one new version, or nothing if any row
    is bad (ProductError lists the rows); returns the version."""
    parsed = parse_csv(text, tiers)
    if parsed.errors:
        raise ProductError("; ".join(f"row {e.row}: {e.message}" for e in parsed.errors))
    if not parsed.products:
        raise ProductError("the file holds no products")
    return save(conn, parsed.products, actor, f"imported {len(parsed.products)} products", tiers)


def batch_catalogs(
    conn: Connection, intents: Sequence[tuple[str, TxIntent]], staff: Mapping[str, StaffCheck]
) -> dict[str, Catalog]:
    """Per transaction id, the catalog its sale is priced with: the products the batch's
    sales name, and free amounts for a sale rung up by a manager (`staff`: the verified
    staff of each transaction, hub/staff_sessions.py)."""
    sales = [(tx, i.op) for tx, i in intents if isinstance(i.op, Purchase)]
    staff_ids = {tx: check.staff_id for tx, check in staff.items()}
    if not sales:
        return {}
    base = catalog_for(conn, {line.sku for _, op in sales for line in op.lines if line.sku}, False)
    if not base.in_use:
        return {}
    names = sorted({staff_ids[tx] for tx, _ in sales if staff_ids.get(tx)})
    s = db.staff
    managers = (
        set(
            conn.execute(
                sa.select(s.c.id).where(s.c.id.in_(names), s.c.role == StaffRole.MANAGER.value)
            ).scalars()
        )
        if names
        else set()
    )
    free = replace(base, free_amounts=True)
    return {tx: free if staff_ids.get(tx) in managers else base for tx, _ in sales}
