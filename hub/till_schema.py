"""The till's shifts and the branches' daily closes (migration 0022), defined here on the
hub's metadata by `hub.db` (whose module is at its size limit). The queries on them live
in hub/till.py.

`till_shifts` is one row per shift of a device's till, as the terminal reported it when
it closed: the float counted at open, the cash taken in and paid out, the cash expected
(float + in - out), the cash counted at close and their difference. The device makes
the shift's id, so a report sent twice is recorded once. Beside the till's cash in and
out it keeps the hub's: what its journal booked in cash for the device from the shift's
open to its close, as it stood when the shift was reported. `day_closes` is one row per
branch and business day a manager signed off (日结): the figures as they stood then
(JSON), so a closed day keeps what was signed.
"""

from __future__ import annotations

import sqlalchemy as sa

SHIFT_ID_CHARS = 36  # a UUID
STAFF_CHARS_MAX = 64


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """(till_shifts, day_closes) on `metadata`."""
    till_shifts = sa.Table(
        "till_shifts",
        metadata,
        sa.Column("shift_id", sa.String(SHIFT_ID_CHARS), primary_key=True),
        sa.Column("device_id", sa.String(48), nullable=False),
        sa.Column("branch_id", sa.String(48), nullable=False),
        sa.Column("opened_ms", sa.BigInteger, nullable=False),  # the device's clock
        sa.Column("closed_ms", sa.BigInteger, nullable=False),
        sa.Column("opened_by", sa.String(STAFF_CHARS_MAX), nullable=False),
        sa.Column("closed_by", sa.String(STAFF_CHARS_MAX), nullable=False),
        sa.Column("float_cents", sa.BigInteger, nullable=False),
        sa.Column("cash_in_cents", sa.BigInteger, nullable=False),
        sa.Column("cash_out_cents", sa.BigInteger, nullable=False),
        sa.Column("expected_cents", sa.BigInteger, nullable=False),
        sa.Column("counted_cents", sa.BigInteger, nullable=False),
        sa.Column("difference_cents", sa.BigInteger, nullable=False),  # counted - expected
        sa.Column("recorded_ms", sa.BigInteger, nullable=False),  # the hub's time
        sa.Column("business_date", sa.Date, nullable=False),  # the hub's day of the close
        # The hub's own cash for the device from open to close, when it was reported
        # (migration 0032; NULL: reported before the check).
        sa.Column("hub_cash_in_cents", sa.BigInteger, nullable=True),
        sa.Column("hub_cash_out_cents", sa.BigInteger, nullable=True),
        sa.Index("till_shifts_branch_day", "branch_id", "business_date"),
    )
    day_closes = sa.Table(
        "day_closes",
        metadata,
        sa.Column("branch_id", sa.String(48), primary_key=True),
        sa.Column("business_date", sa.Date, primary_key=True),
        sa.Column("closed_ms", sa.BigInteger, nullable=False),
        sa.Column("manager", sa.String(STAFF_CHARS_MAX), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),  # JSON, as signed off
    )
    return till_shifts, day_closes
