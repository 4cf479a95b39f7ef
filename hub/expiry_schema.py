"""The table of points by expiry date (migration 0010), defined here on the hub's
metadata by `hub.db` (whose module is at its size limit).

`point_buckets` holds, per member and last day of use, how many points were ever
credited to the member's points account with that expiry. It only grows with credits
(`hub.posting.Journal`); spending leaves it alone: tapcard.domain.expiry turns the
balance and these sums into what expires when. The daily job prunes the rows that can
no longer matter, and a renewal moves the rows that fell due while the card was expired.
"""

from __future__ import annotations

import sqlalchemy as sa


def define(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "point_buckets",
        metadata,
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), primary_key=True),
        # The last day the points may be spent; 9999-12-31 for points that never expire.
        sa.Column("expires_on", sa.Date, primary_key=True),
        sa.Column("points", sa.BigInteger, nullable=False),
        # The daily job finds who has points due from this index alone.
        sa.Index("point_buckets_expires_on", "expires_on", "member_id"),
    )
