"""No hot system-account rows: daily totals get a shard, and a system account's balance
is the sum of its daily totals (hub/ledger_schema.py, hub/posting.py `balances`). The
system accounts' own rows hold 0 from here on; downgrade puts the sums back on them.

Revision ID: 0017
Revises: 0016
"""

import contextlib
import warnings
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_KEY = ["day", "branch_id", "account"]


def upgrade() -> None:
    with _quiet(), op.batch_alter_table("daily_totals", recreate="auto") as batch:
        batch.add_column(sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False))
        _drop_primary_key(batch)
        batch.create_primary_key("daily_totals_pkey", [*_KEY, "shard"])
    op.execute("UPDATE accounts SET balance = 0 WHERE code LIKE 's:%'")


def downgrade() -> None:
    op.execute(
        "UPDATE accounts SET balance = COALESCE((SELECT SUM(d.credit - d.debit) "
        "FROM daily_totals d WHERE d.account = accounts.code), 0) WHERE code LIKE 's:%'"
    )
    # The shards of one (day, branch, account) into shard 0, before the key loses shard.
    op.execute(
        "INSERT INTO daily_totals (day, branch_id, account, shard, debit, credit, legs) "
        "SELECT day, branch_id, account, -1, SUM(debit), SUM(credit), SUM(legs) "
        "FROM daily_totals GROUP BY day, branch_id, account"
    )
    op.execute("DELETE FROM daily_totals WHERE shard <> -1")
    with _quiet(), op.batch_alter_table("daily_totals", recreate="auto") as batch:
        _drop_primary_key(batch)
        batch.drop_column("shard")
        batch.create_primary_key("daily_totals_pkey", _KEY)


def _drop_primary_key(batch: BatchOperations) -> None:
    """PostgreSQL named it at 0004; SQLite's copy-and-move replaces the unnamed one."""
    if op.get_bind().dialect.name != "sqlite":
        batch.drop_constraint("daily_totals_pkey", type_="primary")



@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """SQLite's copy warns that the reflected key differs from the new one: it is meant to."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_daily_totals'", sa.exc.SAWarning)
        yield
