"""Stored value within the rules for prepaid cards.

Revision ID: 0011
Revises: 0010
"""

from alembic import op  # noqa: F401  (used once this migration has its tables)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
