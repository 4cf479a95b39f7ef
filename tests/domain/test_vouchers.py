"""A voucher's terms come from its catalog item at issue: valid for `valid_days` from the
hub's time of issue (the expiry instant itself no longer counts), only at the item's
branches and device kinds (empty: anywhere). HQ (no place) checks only the expiry. The
rules refuse a place or a points-back flag that cannot work."""

from __future__ import annotations

import dataclasses

from tapcard.domain.model import DeviceKind
from tapcard.domain.rules import CatalogItem, CatalogKind, RuleSet, validate_rules
from tapcard.domain.vouchers import (
    DAY_MS,
    Place,
    VoucherRefusal,
    VoucherTerms,
    gives_points_back,
    place_text,
    place_values,
    refusal,
    terms_of,
)

ISSUED_MS = 1_781_000_000_000
PARKING = CatalogItem(
    "PARK-HOUR",
    CatalogKind.PARKING,
    "Parking",
    100,
    valid_days=7,
    branches=("mall-east", "mall-west"),
    device_kinds=(DeviceKind.TERMINAL,),
    points_back_on_expiry=True,
)
AT_EAST = Place(branch="mall-east", device_kind="terminal")


def test_terms_from_the_item_at_issue() -> None:
    terms = terms_of(PARKING, ISSUED_MS)
    assert terms == VoucherTerms(ISSUED_MS + 7 * DAY_MS, ("mall-east", "mall-west"), ("terminal",))
    assert terms_of(dataclasses.replace(PARKING, valid_days=0), ISSUED_MS).expires_ms is None
    assert terms_of(None, ISSUED_MS) == VoucherTerms(None)  # an item the rules dropped
    assert gives_points_back(PARKING) and not gives_points_back(None)


def test_expiry_at_the_boundary() -> None:
    terms = terms_of(PARKING, ISSUED_MS)
    last_ms = ISSUED_MS + 7 * DAY_MS - 1
    assert refusal(terms, last_ms, AT_EAST) is None
    assert refusal(terms, last_ms + 1, AT_EAST) is VoucherRefusal.EXPIRED
    assert refusal(terms, last_ms + 1, None) is VoucherRefusal.EXPIRED  # HQ too
    assert refusal(VoucherTerms(None), 10**15, AT_EAST) is None  # no expiry


def test_place_branch_then_device_kind() -> None:
    terms = terms_of(PARKING, ISSUED_MS)
    assert refusal(terms, ISSUED_MS, Place("airport", "terminal")) is VoucherRefusal.WRONG_BRANCH
    assert refusal(terms, ISSUED_MS, Place("mall-west", "kiosk")) is VoucherRefusal.WRONG_DEVICE
    assert refusal(terms, ISSUED_MS, None) is None  # HQ accepts it on the member's behalf
    anywhere = VoucherTerms(None)
    assert refusal(anywhere, ISSUED_MS, Place("airport", "kiosk")) is None


def test_place_text_round_trip() -> None:
    assert place_values(place_text(("a", "b-2"))) == ("a", "b-2")
    assert place_values(None) == () and place_values("") == ()


def test_rules_refuse_unworkable_terms() -> None:
    base = RuleSet(version=1, name="t")
    cases = {
        "valid_days must be >= 0": dataclasses.replace(PARKING, valid_days=-1),
        "points_back_on_expiry needs valid_days > 0": dataclasses.replace(PARKING, valid_days=0),
        "has no comma": dataclasses.replace(PARKING, branches=("a,b",)),
    }
    for expected, item in cases.items():
        errors = validate_rules(dataclasses.replace(base, catalog=(item,)))
        assert any(expected in e for e in errors), (expected, errors)
    assert validate_rules(dataclasses.replace(base, catalog=(PARKING,))) == []
    half = validate_rules(dataclasses.replace(base, join_spend_cents=10_000))
    assert "join_spend_cents and join_spend_days are both set or both 0" in half
    both = dataclasses.replace(base, join_spend_cents=10_000, join_spend_days=30)
    assert validate_rules(both) == []
