"""Members kept clean: profile changes, one member per phone and ID number, merges.

Revision ID: 0012
Revises: 0011
"""

from alembic import op  # noqa: F401  (used once this migration has its tables)

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
