"""Refunds (migration 0009), defined here because hub/db.py is at its size limit.

`refunds`: one row per refund transfer: which sale it gave back, what (money, points,
growth, and the points the balance lacked), why, where and by whom: the refunds report
reads it. `refund_lines`: how much of each line of a sale each refund took back; the sum
per sale and line never exceeds what was sold (hub/refunds.py checks it under the
member's lock). `vouchers.voided_ms`: a redemption refunded; its voucher counts no more.
"""

from __future__ import annotations

import sqlalchemy as sa

TX_ID_CHARS = 36
REASON_CHARS_MAX = 200


def define(metadata: sa.MetaData, vouchers: sa.Table) -> tuple[sa.Table, sa.Table]:
    """The refunds and refund_lines tables on `metadata`; the void column on vouchers."""
    vouchers.append_column(sa.Column("voided_ms", sa.BigInteger, nullable=True))
    refunds = sa.Table(
        "refunds",
        metadata,
        sa.Column("tx_id", sa.String(TX_ID_CHARS), primary_key=True),  # the refund
        sa.Column("sale_tx_id", sa.String(TX_ID_CHARS), nullable=False, index=True),
        sa.Column("sale_kind", sa.String(16), nullable=False),  # purchase | redeem
        sa.Column("member_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.String(48), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),  # verified staff or HQ user
        sa.Column("reason", sa.String(REASON_CHARS_MAX), nullable=False),
        sa.Column("payment", sa.String(16), nullable=False),  # cash | stored_value | ""
        sa.Column("cents", sa.BigInteger, nullable=False),  # money given back
        sa.Column("points", sa.BigInteger, nullable=False),  # taken back (restored: redeem)
        sa.Column("growth", sa.BigInteger, nullable=False),
        sa.Column("points_shortfall", sa.BigInteger, nullable=False),  # not in the balance
        sa.Column("created_ms", sa.BigInteger, nullable=False, index=True),
    )
    refund_lines = sa.Table(
        "refund_lines",
        metadata,
        sa.Column("sale_tx_id", sa.String(TX_ID_CHARS), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tx_id", sa.String(TX_ID_CHARS), primary_key=True),  # the refund
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="refund_line_quantity"),
    )
    return refunds, refund_lines
