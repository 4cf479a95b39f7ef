"""A registration at the counter, on the wire: the optional ID number and joining by spend.

Scenario: a cashier registers Zhao Liu with her ID number, joining by spend (the golden
`StaffRequest`); the ID number travels in full once, bounded at decode. A registration
that gives neither leaves both fields out of the JSON, so a hub from before the ID
number (which refuses unknown fields) still reads it; and the bytes a terminal from
before the ID number sent (`StaffRequest_before_id_number`, every field written out)
still decode, with no ID number.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from tapcard.wire import staff_messages as sm
from tapcard.wire.envelope import unseal
from tapcard.wire.messages import Body
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import DEVICE_ID, SESSION, GoldenSet, Sample, _device, key_for

UID = "04aabbccddee01"

REGISTER = sm.RegisterMember(
    name="Zhao Liu",
    phone="13900000077",
    uid=UID,
    birthday=dt.date(1992, 5, 17),
    join_by_spend=True,
    id_number="110101199205171234",
)
SAMPLES: dict[str, Sample] = {
    "StaffRequest": _device(
        Family.STAFF, sm.StaffRequest(device=DEVICE_ID, staff="ann", session=SESSION, op=REGISTER)
    ),
}
GOLDEN = GoldenSet(
    Path(__file__).parent / "golden" / "registration",
    SAMPLES,
    "python -m tests.wire.test_registration_wire",
)


class _RegisterBeforeIdNumber(sm.StaffOp, frozen=True, forbid_unknown_fields=True, tag="register"):
    """RegisterMember as hubs before the ID number know it (they refuse unknown fields)."""

    name: str
    phone: str
    uid: str
    card_key: str = ""
    birthday: dt.date | None = None
    waive_fee: bool = False
    join_by_spend: bool = False


class _RequestBeforeIdNumber(Body, frozen=True, kw_only=True):
    device: str
    staff: str
    session: str = ""
    op: _RegisterBeforeIdNumber


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes(name: str) -> None:
    GOLDEN.check_bytes(name)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes_unseal_to_the_sample(name: str) -> None:
    GOLDEN.check_unseal(name)


def test_bytes_from_terminals_before_the_id_number_still_decode() -> None:
    payload = GOLDEN.path("StaffRequest_before_id_number").read_bytes()
    assert b"id_number" not in payload and b'\\"join_by_spend\\":false' in payload
    topic = device_topic(DEVICE_ID, Family.STAFF)
    _, body = unseal(payload, topic, key_for, sm.StaffRequest)
    assert body.op == sm.RegisterMember(name="Zhang San", phone="13900000009", uid=UID)
    assert isinstance(body.op, sm.RegisterMember) and body.op.id_number == ""


def test_fields_at_their_defaults_stay_out_and_decode_back() -> None:
    plain = sm.RegisterMember(name="Zhang San", phone="13900000009", uid=UID)
    raw = msgspec.json.encode(plain)
    assert raw == b'{"kind":"register","name":"Zhang San","phone":"13900000009","uid":"%s"}' % (
        UID.encode()
    )
    assert msgspec.json.decode(raw, type=sm.AnyStaffOp) == plain
    full = msgspec.json.encode(REGISTER)
    assert b'"id_number":"110101199205171234"' in full and b'"join_by_spend":true' in full
    assert msgspec.json.decode(full, type=sm.AnyStaffOp) == REGISTER


def test_an_older_hub_reads_a_registration_without_an_id_number() -> None:
    plain = sm.StaffRequest(
        device=DEVICE_ID,
        staff="ann",
        session=SESSION,
        op=sm.RegisterMember(name="Zhang San", phone="13900000009", uid=UID, join_by_spend=True),
    )
    old = msgspec.json.decode(msgspec.json.encode(plain), type=_RequestBeforeIdNumber)
    assert (old.op.name, old.op.join_by_spend, old.op.birthday) == ("Zhang San", True, None)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(
            msgspec.json.encode(SAMPLES["StaffRequest"].body), type=_RequestBeforeIdNumber
        )


BAD_REGISTRATIONS = [
    {"id_number": "1" * 33},
    {"id_number": 110101},
    {"id_number_hash": "ab"},  # unknown field: the hub hashes, never the device
    {"join_by_spend": "yes"},
]


@pytest.mark.parametrize("changes", BAD_REGISTRATIONS)
def test_registrations_out_of_bounds_are_refused(changes: dict[str, object]) -> None:
    good: dict[str, object] = {"kind": "register", "name": "Zhao", "phone": "13900000077"}
    good["uid"] = UID
    msgspec.json.decode(msgspec.json.encode(good), type=sm.AnyStaffOp)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(good | changes), type=sm.AnyStaffOp)


if __name__ == "__main__":
    GOLDEN.write()
