"""The daily totals (migrations 0004 and 0017) and member days (0020) tables, defined
here on the hub's metadata by `hub.db` (whose module is at its size limit); written by
`db.add_daily_totals` and `hub.member_days.write`.

Per day (UTC, of when it happened), branch, account and shard: the sums of legs. Kept
by the ledger in the same transaction as the legs, so reports over a long journal read
a few rows per day instead of every leg; `verify` re-sums the journal against it.

A system account's balance is not kept on its own row (every transfer would update the
same few rows, and concurrent workers would queue on their locks): it is the sum of its
daily totals (hub/posting.py `balances`). Each batch adds its system-account totals to
one of `SHARDS_N` rows per day, branch and account, picked at random, so that two
workers rarely wait for each other; a member's rows are always shard 0 (the member's
own lock already orders the batches that touch them).
"""

from __future__ import annotations

import sqlalchemy as sa

SHARDS_N = 8  # rows per (day, branch, system account): 1 in 8 concurrent batches meet


def define(metadata: sa.MetaData) -> sa.Table:
    """daily_totals on `metadata`."""
    return sa.Table(
        "daily_totals",
        metadata,
        sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),  # since 1970
        sa.Column("branch_id", sa.String(48), primary_key=True),  # "" for HQ
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column(
            "shard", sa.SmallInteger, primary_key=True, autoincrement=False, server_default="0"
        ),
        sa.Column("debit", sa.BigInteger, nullable=False),
        sa.Column("credit", sa.BigInteger, nullable=False),
        sa.Column("legs", sa.BigInteger, nullable=False),  # on s:sales: one per sale
    )


def member_days(metadata: sa.MetaData) -> sa.Table:
    """member_days on `metadata`: per day (UTC, of the sale), branch ("" for HQ) and
    member, the net spend (sales credited less discounts and refunds debited) and the
    purchases, written by the ledger with the legs (hub/member_days.py) so that top
    members reads a row per member and day, not every leg; `verify` re-sums them. A
    member's points per day are already in daily_totals (account m:<id>:points)."""
    return sa.Table(
        "member_days",
        metadata,
        sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("branch_id", sa.String(48), primary_key=True),
        sa.Column("member_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("net_cents", sa.BigInteger, nullable=False),
        sa.Column("orders", sa.BigInteger, nullable=False),
        # Top members groups a period by member: in this index's order, no sort (0026).
        sa.Index("member_days_by_member", "member_id", "day", "branch_id", "net_cents", "orders"),
    )
