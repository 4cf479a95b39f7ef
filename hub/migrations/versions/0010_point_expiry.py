"""Points that expire: what the ledger keeps to know which points expire when.

`point_buckets` (hub/expiry_schema.py) and the system account expired points go to. A
hub initialised before this revision already holds points: each member's balance becomes
one bucket that never expires, so nothing lapses that was earned under no expiry rule.

Revision ID: 0010
Revises: 0009
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CODE = "s:points_expired"
NEVER = dt.date.max  # tapcard.domain.expiry.NEVER
_accounts = sa.table(
    "accounts",
    sa.column("code", sa.String),
    sa.column("asset", sa.String),
    sa.column("balance", sa.BigInteger),
)


def upgrade() -> None:
    op.create_table(
        "point_buckets",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("member_id", "expires_on"),
    )
    op.create_index("point_buckets_expires_on", "point_buckets", ["expires_on", "member_id"])
    conn = op.get_bind()
    # Our own constant, no input: the balances held before expiry existed never expire.
    conn.execute(
        sa.text(
            "INSERT INTO point_buckets (member_id, expires_on, points) "
            "SELECT member_id, :never, balance FROM accounts "
            "WHERE asset = 'points' AND member_id IS NOT NULL AND balance > 0"
        ).bindparams(sa.bindparam("never", type_=sa.Date)),
        {"never": NEVER},
    )
    found = conn.execute(sa.select(_accounts.c.code).where(_accounts.c.code == CODE)).first()
    if found is None:
        conn.execute(_accounts.insert().values(code=CODE, asset="points", balance=0))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(_accounts.delete().where(_accounts.c.code == CODE, _accounts.c.balance == 0))
    op.drop_index("point_buckets_expires_on", table_name="point_buckets")
    op.drop_table("point_buckets")
