"""The transaction result on the wire: fields at their default are not written, so a
flag added later (`price_changed`) breaks no device that decodes results as before.

Scenario: the hub answers a sale as ever, and an offline sale it priced by its newer
product catalog with `price_changed`. The golden files pin both; the bytes a hub signed
before the default-omitting form (every field written) still unseal to the same result;
a device's decoder from before the flag (these fields, no others) reads today's bytes of
a result without the flag, and refuses only one that carries it: the hub sets it only
for a line sent with a SKU, which devices from before the product catalog never send.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import msgspec
import pytest

from tapcard.wire import messages as m
from tapcard.wire.envelope import unseal
from tests.wire.samples import SAMPLES, GoldenSet, key_for

SAMPLE = SAMPLES["TxResults"]
assert isinstance(SAMPLE.body, m.TxResults)
BODY: m.TxResults = SAMPLE.body
CHANGED = msgspec.structs.replace(
    BODY, results=[msgspec.structs.replace(BODY.results[0], price_changed=True)]
)
GOLDEN = GoldenSet(
    Path(__file__).parent / "golden" / "results",
    {
        "TxResults": SAMPLE,
        "TxResults_price_changed": dataclasses.replace(SAMPLE, body=CHANGED),
    },
    "python -m tests.wire.test_result_wire",
)
BEFORE = GOLDEN.folder / "TxResults_before_omit.json"  # as a hub signed it until now


class _ResultBeforeFlag(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A device's reading of a result before `price_changed`: these fields, no others."""

    v: int = 1
    tx_id: uuid.UUID
    device: str
    seq: int
    accepted: bool
    reason: int
    message: str = ""
    rules_version: int = 0
    card_id: str = ""
    balances: m.Balances | None = None
    tier: str = ""
    net_cents: int = 0
    discount_cents: int = 0
    points_earned: int = 0
    points_spent: int = 0
    voucher: str = ""
    offline_exception: bool = False
    applied_ms: int = 0


class _ResultsBeforeFlag(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    v: int = 1
    device: str
    results: list[_ResultBeforeFlag]


def _body(payload: bytes) -> bytes:
    """The signed body inside an envelope, as a device's decoder gets it."""
    return str(msgspec.json.decode(payload)["body"]).encode()


@pytest.mark.parametrize("name", sorted(GOLDEN.samples))
def test_golden_bytes(name: str) -> None:
    GOLDEN.check_bytes(name)
    GOLDEN.check_unseal(name)


def test_fields_at_their_default_are_not_written() -> None:
    body = _body(GOLDEN.path("TxResults").read_bytes())
    for field in (b"price_changed", b"offline_exception", b"voucher", b"message"):
        assert field not in body
    assert b'"price_changed":true' in _body(GOLDEN.path("TxResults_price_changed").read_bytes())


def test_bytes_signed_before_the_omitting_form_read_as_today() -> None:
    old = BEFORE.read_bytes()
    assert b'"offline_exception":false' in _body(old) and b"price_changed" not in old
    _, body = unseal(old, SAMPLE.topic, key_for, m.TxResults)
    assert body == BODY
    assert isinstance(body, m.TxResults) and body.results[0].price_changed is False


def test_a_decoder_from_before_the_flag_reads_a_result_without_it() -> None:
    old = msgspec.json.decode(_body(GOLDEN.path("TxResults").read_bytes()), type=_ResultsBeforeFlag)
    [result] = old.results
    assert (result.net_cents, result.points_earned, result.offline_exception) == (3_499, 25, False)
    assert result.balances == BODY.results[0].balances
    flagged = _body(GOLDEN.path("TxResults_price_changed").read_bytes())
    with pytest.raises(msgspec.ValidationError, match="price_changed"):
        msgspec.json.decode(flagged, type=_ResultsBeforeFlag)


if __name__ == "__main__":
    GOLDEN.write()
