"""The member portal: one-time login codes, used member QR nonces, close requests
(hub/portal_schema.py).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("used_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("portal_codes_phone", "portal_codes", ["phone", "id"])
    op.create_table(
        "member_qr_nonces",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("card_id", sa.String(32), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("used_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "close_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("close_requests")
    op.drop_table("member_qr_nonces")
    op.drop_index("portal_codes_phone", table_name="portal_codes")
    op.drop_table("portal_codes")
