"""The segments' tables (migration 0027), defined on the hub's metadata by `hub.db`.

`segments`: a segment as data, its rules in one JSON text (hub/segments.py reads and
checks them) so a new kind of rule needs no migration. `segment_members`: who is in each
segment, written by the daily refresh in one INSERT ... SELECT per segment; the snapshot
and the hub's decision read membership here, never by evaluating rules per member.
"""

from __future__ import annotations

import sqlalchemy as sa

SEGMENT_CODE_CHARS = 48


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """(segments, segment_members) on `metadata`."""
    segments = sa.Table(
        "segments",
        metadata,
        sa.Column("code", sa.String(SEGMENT_CODE_CHARS), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("rules", sa.Text, nullable=False),  # JSON: hub.segments.SegmentRules
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("refreshed_ms", sa.BigInteger, nullable=False, default=0),
        sa.Column("member_count", sa.Integer, nullable=False, default=0),
    )
    members = sa.Table(
        "segment_members",
        metadata,
        sa.Column("segment_code", sa.String(SEGMENT_CODE_CHARS), primary_key=True),
        sa.Column("member_id", sa.Integer, primary_key=True),
        # A member's segments, for the snapshot.
        sa.Index("segment_members_member", "member_id", "segment_code"),
    )
    return segments, members
