"""Members kept clean, on the wire: the profile a terminal's edit form shows, the edit,
and the answer that a phone is already a member's.

Scenario: a cashier opens a member's profile (ShowProfile), changes the address and the
ID number (EditMember: the ID in full once, the reply only masked), and registers a
walk-in whose phone is a member's already: the hub answers `duplicate`, naming that
member masked. The golden files pin the bytes; bounds are refused at decode; a
terminal that predates these fields still reads the replies it asks for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from tapcard.wire import staff_messages as sm
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import DEVICE_ID, HUB_KEY, SESSION, GoldenSet, Sample, _device
from tests.wire.test_envelope import _StaffReplyBeforeVouchers

PROFILE = sm.MemberProfile(
    member_id=7,
    name="Li Wei",
    phone="13800000001",
    address="8 Bay Road",
    birthday=dt.date(1990, 3, 7),
    id_number_masked="1101**********1234",
)
EDIT = sm.EditMember(member_id=7, address="8 Bay Road", id_number="110101199003071234")


def _reply(**fields: object) -> Sample:
    reply = sm.StaffReply(device=DEVICE_ID, staff="ann", **fields)  # type: ignore[arg-type]
    return Sample(device_topic(DEVICE_ID, Family.STAFF_REPLY), "hub", HUB_KEY, reply)


SAMPLES: dict[str, Sample] = {
    "StaffRequest": _device(
        Family.STAFF, sm.StaffRequest(device=DEVICE_ID, staff="ann", session=SESSION, op=EDIT)
    ),
    "StaffReply": _reply(profile=PROFILE, changed=["address", "id_number"]),
    "StaffReplyDuplicate": _reply(
        error="duplicate",
        message="this phone is already member #7 (L****i, *******0001)",
        member_id=7,
        members=[sm.MemberRow(member_id=7, name="L****i", phone="*******0001", tier="", state="")],
        changed=["phone"],
    ),
}
GOLDEN = GoldenSet(
    Path(__file__).parent / "golden" / "members", SAMPLES, "python -m tests.wire.test_members_wire"
)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes(name: str) -> None:
    GOLDEN.check_bytes(name)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes_unseal_to_the_sample(name: str) -> None:
    GOLDEN.check_unseal(name)


def test_an_edit_names_only_the_fields_it_changes() -> None:
    op = msgspec.json.decode(
        b'{"kind":"edit_member","member_id":7,"name":"Li"}', type=sm.AnyStaffOp
    )
    assert isinstance(op, sm.EditMember)
    assert (op.name, op.phone, op.address, op.birthday, op.id_number) == (
        "Li",
        None,
        None,
        None,
        None,
    )


BAD_EDITS = [
    {"member_id": 0},
    {"name": ""},
    {"phone": "1234"},
    {"address": "x" * 501},
    {"birthday": "1990-03-07T00:00"},
    {"id_number": "1" * 33},
    {"id_number_hash": "ab"},  # unknown field: the hub hashes, never the device
]


@pytest.mark.parametrize("changes", BAD_EDITS)
def test_edits_out_of_bounds_are_refused(changes: dict[str, object]) -> None:
    good: dict[str, object] = {"kind": "edit_member", "member_id": 7}
    msgspec.json.decode(msgspec.json.encode(good), type=sm.AnyStaffOp)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(good | changes), type=sm.AnyStaffOp)


def test_terminals_before_profiles_read_replies_without_them() -> None:
    login = sm.StaffReply(device="till-1", staff="ann", name="Ann Lee", role="manager")
    old = msgspec.json.decode(msgspec.json.encode(login), type=_StaffReplyBeforeVouchers)
    assert old.name == "Ann Lee"
    assert b"profile" not in msgspec.json.encode(login)
    assert b"changed" not in msgspec.json.encode(login)


if __name__ == "__main__":
    GOLDEN.write()
