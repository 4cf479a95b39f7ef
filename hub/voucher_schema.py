"""Vouchers with an expiry and a place, and joining by spend (migration 0013), defined
here because hub/db.py is at its size limit.

`define_voucher_terms` adds to `hub.db.vouchers` what a voucher took from its catalog
item when it was issued (tapcard.domain.vouchers): the hub time it stops counting (NULL:
never), the branches and device kinds where it counts (comma-separated, NULL: anywhere),
whether its points come back if it expires unused (`points_back`, from the item's
points_back_on_expiry; NULL: no), and, once the daily job has dealt with an unused
expired one, when (`expired_ms`) and the transfer that gave its points back
(`expiry_tx_id`, NULL when the rules gave none).

`define` adds the table of memberships joined by spend (hub/admin/joining.py): one row per
member who registered with join_by=spend, its window and how it ended.
"""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa

from hub import gate_schema
from tapcard.domain.rules import VOUCHER_PLACE_CHARS_MAX, CatalogItem
from tapcard.domain.vouchers import (
    VoucherTerms,
    gives_points_back,
    place_text,
    place_values,
    terms_of,
)

DEVICE_KINDS_CHARS_MAX = 200
TX_ID_CHARS = 36
CARD_ID_CHARS = 32
JOIN_STATE_CHARS = 16


class JoinState(enum.StrEnum):
    PROVISIONAL = "provisional"  # within the window, the threshold not reached yet
    FULL = "full"  # the threshold reached within the window
    LAPSED = "lapsed"  # the window passed without it: the card stopped, the fee is due
    PAID = "paid"  # lapsed, then the joining fee was paid at the counter


def define_voucher_terms(vouchers: sa.Table) -> None:
    vouchers.append_column(sa.Column("expires_ms", sa.BigInteger, nullable=True))
    vouchers.append_column(sa.Column("branches", sa.String(VOUCHER_PLACE_CHARS_MAX)))
    vouchers.append_column(sa.Column("device_kinds", sa.String(DEVICE_KINDS_CHARS_MAX)))
    vouchers.append_column(sa.Column("points_back", sa.Boolean, nullable=True))
    vouchers.append_column(sa.Column("expired_ms", sa.BigInteger, nullable=True))
    vouchers.append_column(sa.Column("expiry_tx_id", sa.String(TX_ID_CHARS), nullable=True))
    sa.Index("vouchers_expires_ms", vouchers.c.expires_ms)


def define(metadata: sa.MetaData) -> sa.Table:
    """The join_by_spend table on `metadata`; also the gates' HTTP keys
    (hub/gate_schema.py, migration 0021)."""
    gate_schema.define(metadata)
    return sa.Table(
        "join_by_spend",
        metadata,
        sa.Column("member_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("card_id", sa.String(CARD_ID_CHARS), nullable=False),
        sa.Column("joined_on", sa.Date, nullable=False),
        sa.Column("last_day", sa.Date, nullable=False),  # the window's last day
        sa.Column("spend_cents_min", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(JOIN_STATE_CHARS), nullable=False, index=True),
        sa.Column("settled_ms", sa.BigInteger, nullable=True),
    )


def terms_columns(item: CatalogItem | None, issued_ms: int) -> dict[str, object]:
    """The vouchers row's columns for what a voucher issued at hub time `issued_ms`
    takes from its catalog item."""
    terms = terms_of(item, issued_ms)
    return {
        "expires_ms": terms.expires_ms,
        "branches": place_text(terms.branches) or None,
        "device_kinds": place_text(terms.device_kinds) or None,
        "points_back": gives_points_back(item) or None,
    }


def terms_of_row(row: Any) -> VoucherTerms:
    """The terms of a stored voucher (a row of `hub.db.vouchers`)."""
    expires = row.expires_ms
    return VoucherTerms(
        None if expires is None else int(expires),
        place_values(row.branches),
        place_values(row.device_kinds),
    )
