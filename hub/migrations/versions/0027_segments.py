"""Segments as data and their members, refreshed daily (issue 17; hub/segments_schema.py).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("code", sa.String(48), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("refreshed_ms", sa.BigInteger, nullable=False),
        sa.Column("member_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "segment_members",
        sa.Column("segment_code", sa.String(48), primary_key=True),
        sa.Column("member_id", sa.Integer, primary_key=True),
    )
    op.create_index("segment_members_member", "segment_members", ["member_id", "segment_code"])


def downgrade() -> None:
    op.drop_index("segment_members_member", table_name="segment_members")
    op.drop_table("segment_members")
    op.drop_table("segments")
