"""Topic names and reason codes are part of the protocol.

Scenario: the hub subscribes with wildcards and learns the device id from the topic,
so a topic that is not exactly `tapcard/v1/dev/<id>/<family>` with a valid id must
not parse, and an id can never smuggle MQTT wildcards (`+`, `#`) or extra levels in.
Reason codes travel as numbers: a test pins each value so that nobody renumbers one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapcard.wire.codes import FORM_REASONS, Reason
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    PREFIX,
    RULES_TOPIC,
    Family,
    device_filter,
    device_topic,
    is_valid_device_id,
    parse_device_topic,
    shared_filter,
)

REASON_VALUES = {
    "OK": 0,
    "MALFORMED": 1,
    "SCHEMA": 2,
    "OVERSIZE": 3,
    "UNSUPPORTED_VERSION": 4,
    "UNKNOWN_DEVICE": 5,
    "DEVICE_REVOKED": 6,
    "BAD_SIGNATURE": 7,
    "DEVICE_MISMATCH": 8,
    "TX_ID_REUSED": 10,
    "SEQ_REUSED": 11,
    "UNKNOWN_CARD": 20,
    "CARD_LOST": 21,
    "CARD_EXPIRED": 22,
    "CARD_TERMINATED": 23,
    "CARD_REPLACED": 24,
    "CARD_NOT_ALLOWED": 25,
    "INSUFFICIENT_POINTS": 30,
    "INSUFFICIENT_FUNDS": 31,
    "UNKNOWN_ITEM": 32,
    "OUT_OF_STOCK": 33,
    "BACKFILL_WINDOW": 34,
    "RECEIPT_USED": 35,
    "UNKNOWN_RULES_VERSION": 36,
    "INVALID_REQUEST": 37,
    "LIMIT_EXCEEDED": 38,
    "DEVICE_NOT_ALLOWED": 40,
    "AMOUNT_NOT_ALLOWED": 41,
    "STORED_VALUE_CAP": 42,
    "SEQ_AHEAD": 43,
    "STAFF_UNVERIFIED": 50,
    "STAFF_NOT_ALLOWED": 51,
    "UNKNOWN_REFERENCE": 60,
    "REFUND_EXCEEDS_SALE": 61,
    "NOT_REFUNDABLE": 62,
    "VOUCHER_USED": 63,
    "VOUCHER_EXPIRED": 70,
    "VOUCHER_WRONG_BRANCH": 71,
    "VOUCHER_WRONG_DEVICE": 72,
    "MEMBER_QR_USED": 80,
    "MEMBER_QR_EXPIRED": 81,
    "MEMBER_QR_INVALID": 82,
    "SET_ASIDE": 98,
    "INTERNAL_ERROR": 99,
}


def test_reason_values_are_pinned() -> None:
    assert {r.name: r.value for r in Reason} == REASON_VALUES, (
        "reason codes are on the wire: add new ones with new numbers, never renumber"
    )


def test_form_reasons_are_the_message_level_codes() -> None:
    assert {r.value for r in FORM_REASONS} == {1, 2, 3, 4, 5, 6, 7, 8}


def test_topic_families_and_names() -> None:
    assert PREFIX == "tapcard/v1"
    assert [f.value for f in Family] == [
        "tx",
        "result",
        "status",
        "health",
        "query",
        "reply",
        "staff",
        "staff-reply",
        "control",
        "bay",
    ]
    assert RULES_TOPIC == "tapcard/v1/rules"
    assert DENYLIST_TOPIC == "tapcard/v1/denylist"
    assert device_filter(Family.TX) == "tapcard/v1/dev/+/tx"
    assert shared_filter(Family.TX) == "$share/tapcard-hub/tapcard/v1/dev/+/tx"


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize("device", ["kiosk-1", "t", "0", "shop_12-counter-3", "a" * 48])
def test_device_topics_parse_back(device: str, family: Family) -> None:
    topic = device_topic(device, family)
    assert topic == f"tapcard/v1/dev/{device}/{family.value}"
    assert parse_device_topic(topic) == (device, family)


@pytest.mark.parametrize(
    "topic",
    [
        "tapcard/v1/dev/+/tx",
        "tapcard/v1/dev/#",
        "tapcard/v1/dev/#/tx",
        "tapcard/v1/dev/kiosk+1/tx",
        "tapcard/v1/dev/kiosk#/tx",
        "tapcard/v1/dev/kiosk-1/+",
        "tapcard/v1/dev/kiosk-1/#",
        "tapcard/v1/dev//tx",
        "tapcard/v1/dev/Kiosk-1/tx",
        "tapcard/v1/dev/-kiosk/tx",
        "tapcard/v1/dev/_kiosk/tx",
        "tapcard/v1/dev/kiosk 1/tx",
        "tapcard/v1/dev/kiösk/tx",
        "tapcard/v1/dev/" + "a" * 49 + "/tx",
        "tapcard/v1/dev/kiosk-1/tx/extra",
        "tapcard/v1/dev/kiosk-1/",
        "tapcard/v1/dev/kiosk-1/TX",
        "tapcard/v1/dev/kiosk-1/rules",
        "tapcard/v1/dev/kiosk-1",
        "tapcard/v2/dev/kiosk-1/tx",
        "tapcard/v1/devices/kiosk-1/tx",
        "other/v1/dev/kiosk-1/tx",
        "/tapcard/v1/dev/kiosk-1/tx",
        "$share/tapcard-hub/tapcard/v1/dev/kiosk-1/tx",
        "tapcard/v1/rules",
        "tapcard/v1/denylist",
        "",
    ],
)
def test_malformed_topics_do_not_parse(topic: str) -> None:
    assert parse_device_topic(topic) is None


@pytest.mark.parametrize("device", ["+", "#", "a/b", "kiosk+", "k#", "", "hub/x", "A"])
def test_wildcards_and_levels_are_not_device_ids(device: str) -> None:
    assert not is_valid_device_id(device)
    with pytest.raises(AssertionError):
        device_topic(device, Family.TX)


def test_trailing_newline_is_not_a_device_id() -> None:
    assert not is_valid_device_id("kiosk-1\n")
    assert parse_device_topic("tapcard/v1/dev/kiosk-1\n/tx") is None


@given(st.text(max_size=80))
def test_parse_accepts_only_what_device_topic_makes(text: str) -> None:
    parsed = parse_device_topic(text)
    if parsed is not None:
        device, family = parsed
        assert "+" not in device and "#" not in device and "/" not in device
        if "\n" not in device:  # see test_trailing_newline_is_not_a_device_id
            assert device_topic(device, family) == text


def test_readme_reason_table_lists_every_code() -> None:
    readme = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "README.md"
    rows = {
        line.split("|")[2].strip(): int(line.split("|")[1])
        for line in readme.read_text().splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    }
    assert rows == REASON_VALUES
