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
from tapcard.wire.envelope import unseal
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import (
    CARD_ID,
    DEVICE_ID,
    HUB_KEY,
    OPS,
    SESSION,
    TX_ID,
    Sample,
    _device,
    intent,
    key_for,
)
from tests.wire.test_envelope import _StaffReplyBeforeVouchers

GOLDEN = Path(__file__).parent / "golden" / "refunds"
REGENERATE = "python -m tests.wire.test_refund_wire"

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


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes(name: str) -> None:
    assert (GOLDEN / f"{name}.json").read_bytes() == SAMPLES[name].sealed(), REGENERATE


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes_unseal_to_the_sample(name: str) -> None:
    sample = SAMPLES[name]
    payload = (GOLDEN / f"{name}.json").read_bytes()
    _, body = unseal(payload, sample.topic, key_for, type(sample.body))
    assert body == sample.body


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


def write_golden() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, sample in SAMPLES.items():
        (GOLDEN / f"{name}.json").write_bytes(sample.sealed())
        print(GOLDEN / f"{name}.json")


if __name__ == "__main__":
    write_golden()
