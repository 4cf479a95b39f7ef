"""Stored value within the rules for prepaid cards: the liability account that holds a
terminated member's stored value until HQ settles it.

No table changes; a hub initialised before this revision gets the new system account
row (a fresh `tapcard hub init` makes it here too, and `ensure_system_accounts` then
finds it).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CODE = "s:unclaimed_stored_value"
_accounts = sa.table(
    "accounts",
    sa.column("code", sa.String),
    sa.column("asset", sa.String),
    sa.column("balance", sa.BigInteger),
)


def upgrade() -> None:
    conn = op.get_bind()
    found = conn.execute(sa.select(_accounts.c.code).where(_accounts.c.code == CODE)).first()
    if found is None:
        conn.execute(_accounts.insert().values(code=CODE, asset="cents", balance=0))


def downgrade() -> None:
    # Only an account nothing was ever booked on may go: a balance is never dropped.
    conn = op.get_bind()
    conn.execute(_accounts.delete().where(_accounts.c.code == CODE, _accounts.c.balance == 0))
