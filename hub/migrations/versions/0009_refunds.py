"""Refunds and partial returns (issue money).

Revision ID: 0009
Revises: 0008
"""

from alembic import op  # noqa: F401  (used once this migration has its tables)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
