"""Vouchers with an expiry and a place where they count.

Revision ID: 0013
Revises: 0012
"""

from alembic import op  # noqa: F401  (used once this migration has its tables)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
