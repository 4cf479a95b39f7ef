"""A member's tag from the counter (MemberTag): 1-24 characters with no space at either
end, as the hub stores it; a removal says so; the reply carries the tags after."""

from __future__ import annotations

import msgspec
import pytest

from tapcard.wire import staff_messages as sm


def test_a_tag_and_its_removal_round_trip() -> None:
    raw = '{"kind":"member_tag","card_id":"C100001","tag":"洗车常客"}'.encode()
    op = msgspec.json.decode(raw, type=sm.AnyStaffOp)
    assert op == sm.MemberTag(card_id="C100001", tag="洗车常客")
    assert msgspec.json.encode(op) == raw  # an addition leaves `remove` out
    off = sm.MemberTag(card_id="C100001", tag="VIP car", remove=True)
    assert msgspec.json.decode(msgspec.json.encode(off), type=sm.AnyStaffOp) == off


def test_the_reply_carries_the_tags_after() -> None:
    reply = sm.StaffReply(device="till-1", staff="ann", member_id=7, tags=["VIP", "洗车常客"])
    back = msgspec.json.decode(msgspec.json.encode(reply), type=sm.StaffReply)
    assert back.tags == ["VIP", "洗车常客"]


@pytest.mark.parametrize(
    "changes",
    [
        {"tag": ""},
        {"tag": " VIP"},
        {"tag": "VIP "},
        {"tag": "VIP\n"},
        {"tag": "x" * 25},
        {"card_id": "C 1"},
        {"remove": "yes"},
    ],
)
def test_tags_out_of_bounds_are_refused(changes: dict[str, object]) -> None:
    good: dict[str, object] = {"kind": "member_tag", "card_id": "C100001", "tag": "x" * 24}
    msgspec.json.decode(msgspec.json.encode(good), type=sm.AnyStaffOp)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(good | changes), type=sm.AnyStaffOp)
