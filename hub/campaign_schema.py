"""The targeted campaigns' tables (migration 0030), defined on the hub's metadata by
`hub.db`.

`campaign_budgets`: one row per campaign with a budget cap or a per-member limit, what it
has spent so far (discount and gift cost in cents, extra points) and its uses. The hub
locks the row before it decides a sale that could use the campaign and adds to it in
the same transaction as the booking, so two workers cannot both spend the last of it
(hub/campaign_budget.py). `campaign_uses`: every use by a member, for the per-member
limit and the campaign report (points given, cost, participants).
"""

from __future__ import annotations

import sqlalchemy as sa

CAMPAIGN_CODE_CHARS = 64  # as transfer_campaigns.code


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """(campaign_budgets, campaign_uses) on `metadata`."""
    budgets = sa.Table(
        "campaign_budgets",
        metadata,
        sa.Column("code", sa.String(CAMPAIGN_CODE_CHARS), primary_key=True),
        sa.Column("spent_cents", sa.BigInteger, nullable=False, default=0),
        sa.Column("spent_points", sa.BigInteger, nullable=False, default=0),
        sa.Column("uses", sa.Integer, nullable=False, default=0),
    )
    uses = sa.Table(
        "campaign_uses",
        metadata,
        sa.Column("tx_id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(CAMPAIGN_CODE_CHARS), primary_key=True),
        sa.Column("member_id", sa.Integer, nullable=False),
        sa.Column("cost_cents", sa.BigInteger, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        # A member's uses of one campaign: the per-member limit.
        sa.Index("campaign_uses_member", "code", "member_id"),
    )
    return budgets, uses
