"""The product catalog's tables (migration 0019), defined here on the hub's metadata by
`hub.db` (whose module is at its size limit). The queries on them live in
hub/products.py.

`products` is one row per SKU; `product_prices` its member price per tier (a tier without
a row pays the retail price less its tier discount); `product_catalogs` one row per
version of the catalog: every change (an add, an edit, a removal, an import) makes a new
version, and the hub publishes the newest to devices (hub/duties.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from tapcard.domain.engine import SALE_LINE_TEXT_LEN_MAX
from tapcard.domain.products import BARCODE_LEN_MAX, PRODUCT_NAME_LEN_MAX

TIER_NAME_CHARS_MAX = 32
PRODUCT_SHA256_HEX_CHARS = 64


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """(products, product_prices, product_catalogs) on `metadata`."""
    products = sa.Table(
        "products",
        metadata,
        sa.Column("sku", sa.String(SALE_LINE_TEXT_LEN_MAX), primary_key=True),
        sa.Column("barcode", sa.String(BARCODE_LEN_MAX), nullable=True, unique=True),
        sa.Column("name_zh", sa.String(PRODUCT_NAME_LEN_MAX), nullable=False),
        sa.Column("name_en", sa.String(PRODUCT_NAME_LEN_MAX), nullable=False),
        sa.Column("category", sa.String(SALE_LINE_TEXT_LEN_MAX), nullable=False),
        sa.Column("retail_cents", sa.BigInteger, nullable=False),
        sa.Column("points_excluded", sa.Boolean, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    prices = sa.Table(
        "product_prices",
        metadata,
        sa.Column(
            "sku",
            sa.String(SALE_LINE_TEXT_LEN_MAX),
            sa.ForeignKey("products.sku", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tier", sa.String(TIER_NAME_CHARS_MAX), primary_key=True),
        sa.Column("member_cents", sa.BigInteger, nullable=False),
    )
    catalogs = sa.Table(
        "product_catalogs",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("changed_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
    )
    return products, prices, catalogs
