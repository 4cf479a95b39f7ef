"""The hub is the authority, the rest: staff card tries, per-device broker logins.

Revision ID: 0014
Revises: 0013
"""

from alembic import op  # noqa: F401  (used once this migration has its tables)

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
