"""The member QR on the wire (SnapshotQuery.qr, TxIntent.member_code), as older devices
and hubs see it.

Scenario: a kiosk from before the member QR sends its snapshot query (the bytes kept in
golden/before_member_qr): it still decodes at a current hub, with no code. An intent
from before offline member codes (golden/before_offline_member_code) decodes with none.
A current kiosk's query with a code round-trips, and so does an intent carrying the
longest code the hub makes; a code longer than that is refused by the schema before
the hub looks at it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from nacl.signing import SigningKey

from tapcard.cards import member_code
from tapcard.wire import messages as m
from tapcard.wire.envelope import unseal
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import DEVICE_ID, OPS, intent, key_for

GOLDEN = Path(__file__).parent / "golden"
BEFORE = GOLDEN / "before_member_qr"
CODE = "TCM1.C100001.1790000000.AAAAAAAAAAA.BBBBBBBBBBBBBBBB"
LONGEST_CARD = "C" * 32


def test_a_query_from_before_the_member_qr_decodes_without_a_code() -> None:
    payload = (BEFORE / "SnapshotQuery.json").read_bytes()
    _, body = unseal(payload, device_topic(DEVICE_ID, Family.QUERY), key_for, m.SnapshotQuery)
    assert (body.card_id, body.qr) == ("C100001", "")


def test_a_query_with_a_member_code_round_trips() -> None:
    query = m.SnapshotQuery(device=DEVICE_ID, card_id="C100001", segments=True, qr=CODE)
    assert msgspec.json.decode(msgspec.json.encode(query), type=m.SnapshotQuery) == query


def test_a_code_longer_than_the_hub_makes_is_refused_by_the_schema() -> None:
    too_long = "T" * (member_code.CODE_CHARS_MAX + 1)
    raw = msgspec.json.encode(m.SnapshotQuery(device=DEVICE_ID, card_id="C1", qr=too_long))
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=m.SnapshotQuery)


def test_an_intent_from_before_offline_codes_decodes_without_one() -> None:
    payload = (GOLDEN / "before_offline_member_code" / "TxIntent.json").read_bytes()
    _, body = unseal(payload, device_topic(DEVICE_ID, Family.TX), key_for, m.TxIntent)
    assert body.member_code == "" and body.seq >= 1


def test_an_intent_carries_the_longest_signed_code() -> None:
    text = member_code.sign(SigningKey(bytes(32)), LONGEST_CARD, 1_790_000_000_000, bytes(8))
    assert len(text) <= member_code.CODE_CHARS_MAX
    carried = msgspec.structs.replace(intent(OPS["purchase"]), member_code=text, offline=True)
    assert msgspec.json.decode(msgspec.json.encode(carried), type=m.TxIntent) == carried
    too_long = msgspec.structs.replace(carried, member_code=text + "x" * 40)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(too_long), type=m.TxIntent)
