"""The product catalog: products by SKU, member prices by tier, catalog versions
(hub/product_schema.py).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("barcode", sa.String(32), nullable=True, unique=True),
        sa.Column("name_zh", sa.String(64), nullable=False),
        sa.Column("name_en", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("retail_cents", sa.BigInteger(), nullable=False),
        sa.Column("points_excluded", sa.Boolean(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "product_prices",
        sa.Column(
            "sku",
            sa.String(64),
            sa.ForeignKey("products.sku", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tier", sa.String(32), primary_key=True),
        sa.Column("member_cents", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "product_catalogs",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("product_catalogs")
    op.drop_table("product_prices")
    op.drop_table("products")
