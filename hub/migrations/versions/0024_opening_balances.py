"""The system account of balances moved in from a legacy system (hub/member_import.py).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

OPENING = "s:opening_balances"


def upgrade() -> None:
    # A hub made before imports gets the account here; a fresh one from
    # ensure_system_accounts as well.
    accounts = sa.table(
        "accounts",
        sa.column("code", sa.String),
        sa.column("asset", sa.String),
        sa.column("balance", sa.BigInteger),
    )
    conn = op.get_bind()
    if conn.execute(sa.select(accounts.c.code).where(accounts.c.code == OPENING)).first() is None:
        op.bulk_insert(accounts, [{"code": OPENING, "asset": "cents", "balance": 0}])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM accounts WHERE code = :code").bindparams(code=OPENING))
