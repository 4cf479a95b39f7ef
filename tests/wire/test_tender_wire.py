"""Tenders on the wire: a split payment inside a purchase, a top-up and a fee, and
the till's closed shift as the terminal reports it.

Scenario: a terminal sends a sale paid ¥50 from stored value and the rest by WeChat Pay
with its transaction number, a top-up by bank card and a fee split over cash and Alipay.
The golden files pin the bytes of the new shape; an op without tenders encodes exactly
as before splits (so a hub from before reads it) and an op from before reads with no
tenders; bounds on parts, amounts and references are refused at decode.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tapcard.domain.engine import SaleLine
from tapcard.domain.model import FeeKind, Payment
from tapcard.domain.tenders import TENDERS_MAX
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.envelope import unseal
from tapcard.wire.topics import Family
from tests.wire.samples import DEVICE_ID, OPS, SESSION, Sample, _device, intent, key_for

GOLDEN = Path(__file__).parent / "golden" / "tenders"
REGENERATE = "python -m tests.wire.test_tender_wire"

SPLIT = [
    m.TenderPart(payment=Payment.STORED_VALUE, amount_cents=5_000),
    m.TenderPart(payment=Payment.WECHAT, amount_cents=1_499, ref="4200001234202612021234"),
]
SAMPLES: dict[str, Sample] = {
    "TxIntent_purchase": _device(
        Family.TX,
        intent(
            m.Purchase(
                lines=[SaleLine("grocery", 6_499, 1, "SKU-TEA-GIFT-BOX")],
                payment=Payment.STORED_VALUE,
                receipt_no="R-2026-000031",
                tenders=SPLIT,
            ),
            seq=44,
        ),
    ),
    "TxIntent_topup": _device(
        Family.TX,
        intent(
            m.TopUp(
                amount_cents=20_000,
                tenders=[
                    m.TenderPart(payment=Payment.BANK_CARD, amount_cents=20_000, ref="778812")
                ],
            ),
            seq=45,
        ),
    ),
    "TxIntent_fee": _device(
        Family.TX,
        intent(
            m.Fee(
                fee=FeeKind.JOINING,
                payment=Payment.CASH,
                tenders=[
                    m.TenderPart(payment=Payment.CASH, amount_cents=1_000),
                    m.TenderPart(payment=Payment.ALIPAY, amount_cents=1_000, ref="2026120222001"),
                ],
            ),
            seq=46,
        ),
    ),
    # A till's closed shift, reported to the hub as a staff request.
    "StaffRequest_close_shift": _device(
        Family.STAFF,
        sm.StaffRequest(
            device=DEVICE_ID,
            staff="ann",
            session=SESSION,
            op=sm.CloseShift(
                shift_id="7d0e5c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
                opened_ms=1_781_150_400_000,
                closed_ms=1_781_179_200_000,
                opened_by="ann",
                float_cents=20_000,
                cash_in_cents=154_500,
                cash_out_cents=1_250,
                counted_cents=173_150,
                takings={"sale_cash": 144_500, "topup": 10_000, "sale_wechat": 6_499},
            ),
        ),
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


class _PurchaseBeforeTenders(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A hub's reading of a purchase before tenders: these fields, no others."""

    kind: str
    lines: list[SaleLine]
    payment: str
    receipt_no: str = ""


@pytest.mark.parametrize("kind", ["purchase", "topup", "fee", "renewal"])
def test_ops_without_tenders_encode_as_before(kind: str) -> None:
    raw = msgspec.json.encode(OPS[kind])
    assert b"tenders" not in raw
    assert msgspec.json.decode(raw, type=m.AnyOp) == OPS[kind]
    if kind == "purchase":
        old = msgspec.json.decode(raw, type=_PurchaseBeforeTenders)
        assert old.payment == "cash" and old.receipt_no == "R-2026-000017"


def test_an_op_from_before_tenders_reads_with_none() -> None:
    line = b'{"category":"fuel","unit_price_cents":100}'
    raw = b'{"kind":"purchase","lines":[' + line + b'],"payment":"cash"}'
    op = msgspec.json.decode(raw, type=m.AnyOp)
    assert isinstance(op, m.Purchase) and op.tenders == [] and op.payment is Payment.CASH


PART = {"payment": "wechat", "amount_cents": 100, "ref": "X1"}
BAD_TENDERS = [
    [PART] * (TENDERS_MAX + 1),
    [PART | {"amount_cents": 0}],
    [PART | {"ref": "r" * 65}],
    [PART | {"payment": "paypal"}],
    [PART | {"fee_cents": 1}],  # unknown field
]


@pytest.mark.parametrize("tenders", BAD_TENDERS)
def test_tenders_out_of_bounds_are_refused(tenders: list[dict[str, object]]) -> None:
    good = {"kind": "topup", "amount_cents": 100, "tenders": [PART]}
    msgspec.json.decode(msgspec.json.encode(good), type=m.AnyOp)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(good | {"tenders": tenders}), type=m.AnyOp)


def write_golden() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, sample in SAMPLES.items():
        (GOLDEN / f"{name}.json").write_bytes(sample.sealed())
        print(GOLDEN / f"{name}.json")


if __name__ == "__main__":
    write_golden()
