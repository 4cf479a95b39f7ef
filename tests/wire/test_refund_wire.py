"""Refunds on the wire: the refund intent, the sale lookup and the sale view it answers.

Scenario: a terminal asks what a receipt still has to refund (SaleLookup), the hub
answers with the sale's lines and what earlier refunds took (SaleView in StaffReply),
and the terminal sends a Refund of one line inside an ordinary intent. The golden files
pin the bytes; bounds on line numbers, quantities, references and reasons are refused
at decode; a terminal that predates refunds still reads the replies it asks for.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tapcard.domain.engine import SALE_LINE_QUANTITY_MAX, SALE_LINES_MAX
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import (
    CARD_ID,
    DEVICE_ID,
    HUB_KEY,
    OPS,
    SESSION,
    TX_ID,
    GoldenSet,
    Sample,
    _device,
    intent,
)
from tests.wire.test_envelope import _StaffReplyBeforeVouchers

SALE = sm.SaleView(
    tx_id=str(TX_ID),
    kind="purchase",
    card_id=CARD_ID,
    member_id=7,
    member_name_masked="L****i",
    created_ms=1_781_179_200_000,
    payment="cash",
    net_cents=3_499,
    refunded_cents=1_250,
    refundable=True,
    lines=[
        sm.SaleLineView(
            line_no=0,
            category="grocery",
            sku="SKU-COFFEE-BEANS-500G",
            unit_price_cents=1_250,
            quantity=2,
            refunded=1,
        ),
        sm.SaleLineView(line_no=1, category="group_buy", unit_price_cents=999, quantity=1),
    ],
)

SAMPLES: dict[str, Sample] = {
    "TxIntent": _device(Family.TX, intent(OPS["refund"], seq=43)),
    "StaffRequest": _device(
        Family.STAFF,
        sm.StaffRequest(
            device=DEVICE_ID, staff="ann", session=SESSION, op=sm.SaleLookup(ref="R-2026-000017")
        ),
    ),
    "StaffReply": Sample(
        device_topic(DEVICE_ID, Family.STAFF_REPLY),
        "hub",
        HUB_KEY,
        sm.StaffReply(device=DEVICE_ID, staff="ann", sale=SALE),
    ),
}
GOLDEN = GoldenSet(
    Path(__file__).parent / "golden" / "refunds", SAMPLES, "python -m tests.wire.test_refund_wire"
)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes(name: str) -> None:
    GOLDEN.check_bytes(name)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes_unseal_to_the_sample(name: str) -> None:
    GOLDEN.check_unseal(name)


def test_a_refund_without_lines_is_a_whole_refund() -> None:
    raw = b'{"kind":"refund","ref":"R-1","reason":"changed mind"}'
    op = msgspec.json.decode(raw, type=m.AnyOp)
    assert isinstance(op, m.Refund)
    assert (op.ref, op.lines, op.reason) == ("R-1", [], "changed mind")


BAD_REFUNDS = [
    {"ref": "R1"},  # too short to be a reference
    {"ref": "R" * 65},
    {"reason": "no"},
    {"reason": "x" * 201},
    {"lines": [{"line_no": -1, "quantity": 1}]},
    {"lines": [{"line_no": SALE_LINES_MAX, "quantity": 1}]},
    {"lines": [{"line_no": 0, "quantity": 0}]},
    {"lines": [{"line_no": 0, "quantity": SALE_LINE_QUANTITY_MAX + 1}]},
    {"lines": [{"line_no": 0, "quantity": 1, "price_cents": 1}]},  # unknown field
    {"amount_cents": 100},  # the hub prices a refund: a device cannot name an amount
]


@pytest.mark.parametrize("changes", BAD_REFUNDS)
def test_refunds_out_of_bounds_are_refused(changes: dict[str, object]) -> None:
    good: dict[str, object] = {"kind": "refund", "ref": "R-2026-1", "reason": "damaged"}
    msgspec.json.decode(msgspec.json.encode(good), type=m.AnyOp)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(good | changes), type=m.AnyOp)


def test_terminals_before_refunds_read_replies_without_a_sale() -> None:
    login = sm.StaffReply(device="till-1", staff="ann", name="Ann Lee", role="manager")
    old = msgspec.json.decode(msgspec.json.encode(login), type=_StaffReplyBeforeVouchers)
    assert old.name == "Ann Lee"
    assert b"sale" not in msgspec.json.encode(login)


if __name__ == "__main__":
    GOLDEN.write()
