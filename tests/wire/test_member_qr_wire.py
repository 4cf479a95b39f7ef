"""The member QR on the snapshot query (SnapshotQuery.qr), as older devices and hubs see it.

Scenario: a kiosk from before the member QR sends its snapshot query (the bytes kept in
golden/before_member_qr): it still decodes at a current hub, with no code. A current
kiosk's query with a code round-trips; a code longer than any the hub makes is refused
by the schema before the hub looks at it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tapcard.wire import messages as m
from tapcard.wire.envelope import unseal
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import DEVICE_ID, key_for

BEFORE = Path(__file__).parent / "golden" / "before_member_qr"
CODE = "TCM1.C100001.1790000000.AAAAAAAAAAA.BBBBBBBBBBBBBBBB"


def test_a_query_from_before_the_member_qr_decodes_without_a_code() -> None:
    payload = (BEFORE / "SnapshotQuery.json").read_bytes()
    _, body = unseal(payload, device_topic(DEVICE_ID, Family.QUERY), key_for, m.SnapshotQuery)
    assert (body.card_id, body.qr) == ("C100001", "")


def test_a_query_with_a_member_code_round_trips() -> None:
    query = m.SnapshotQuery(device=DEVICE_ID, card_id="C100001", segments=True, qr=CODE)
    assert msgspec.json.decode(msgspec.json.encode(query), type=m.SnapshotQuery) == query


def test_a_code_longer_than_the_hub_makes_is_refused_by_the_schema() -> None:
    raw = msgspec.json.encode(m.SnapshotQuery(device=DEVICE_ID, card_id="C1", qr="T" * 97))
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=m.SnapshotQuery)
