"""The refund quote on the wire: the counter asks what a refund would give back
(RefundQuote) and the hub answers the exact figures (RefundQuoteView in StaffReply).

The golden files pin the bytes; out-of-bounds lines are refused at decode; a terminal
that predates the quote still reads the replies it asks for (the field stays out).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tapcard.domain.engine import SALE_LINES_MAX
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import (
    DEVICE_ID,
    HUB_KEY,
    SESSION,
    TX_ID,
    GoldenSet,
    Sample,
    _device,
)
from tests.wire.test_envelope import _StaffReplyBeforeVouchers

QUOTE = sm.RefundQuote(ref=str(TX_ID), lines=[m.RefundLine(line_no=1, quantity=1)])
SAMPLES: dict[str, Sample] = {
    "StaffRequest": _device(
        Family.STAFF, sm.StaffRequest(device=DEVICE_ID, staff="ann", session=SESSION, op=QUOTE)
    ),
    "StaffReply": Sample(
        device_topic(DEVICE_ID, Family.STAFF_REPLY),
        "hub",
        HUB_KEY,
        sm.StaffReply(
            device=DEVICE_ID,
            staff="ann",
            quote=sm.RefundQuoteView(money_cents=4_500, payment="cash", points=45),
        ),
    ),
}
GOLDEN = GoldenSet(
    Path(__file__).parent / "golden" / "refund_quote",
    SAMPLES,
    "python -m tests.wire.test_refund_quote_wire",
)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes(name: str) -> None:
    GOLDEN.check_bytes(name)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes_unseal_to_the_sample(name: str) -> None:
    GOLDEN.check_unseal(name)


BAD_QUOTES = [
    {"ref": "R1"},
    {"lines": [{"line_no": SALE_LINES_MAX, "quantity": 1}]},
    {"lines": [{"line_no": 0, "quantity": 0}]},
    {"amount_cents": 100},  # the hub prices it: a device cannot name an amount
]


@pytest.mark.parametrize("changes", BAD_QUOTES)
def test_quotes_out_of_bounds_are_refused(changes: dict[str, object]) -> None:
    good: dict[str, object] = {"kind": "refund_quote", "ref": "R-2026-1"}
    assert msgspec.json.decode(msgspec.json.encode(good), type=sm.AnyStaffOp) == sm.RefundQuote(
        ref="R-2026-1"
    )
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(good | changes), type=sm.AnyStaffOp)


def test_terminals_before_the_quote_read_replies_without_it() -> None:
    login = sm.StaffReply(device="till-1", staff="ann", name="Ann Lee", role="manager")
    old = msgspec.json.decode(msgspec.json.encode(login), type=_StaffReplyBeforeVouchers)
    assert old.name == "Ann Lee"
    assert b"quote" not in msgspec.json.encode(login)


if __name__ == "__main__":
    GOLDEN.write()
