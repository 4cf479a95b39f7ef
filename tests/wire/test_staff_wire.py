"""Staff identity on the wire: sessions on intents and staff requests, sealed PINs.

Scenario: a terminal from before staff sessions sends an intent and a staff request; both
still decode, with no session (the hub then refuses what needs one, with a reason). A
current terminal seals the PIN to the hub's key: a subscriber to the staff topic sees
neither the PIN nor anything it could open, and a box opened by the wrong key, or
altered by one byte, is refused.
"""

from __future__ import annotations

import base64
from pathlib import Path

import msgspec
import pytest
from nacl.signing import SigningKey

from tapcard.errors import ValidationError
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.envelope import unseal
from tapcard.wire.keys import open_pin, seal_pin
from tapcard.wire.topics import Family, device_topic
from tests.wire.samples import DEVICE_ID, DEVICE_KEY, HUB_KEY, SESSION, _device, key_for

BEFORE = Path(__file__).parent / "golden" / "before_staff_sessions"
CHALLENGE = "Zx9" + "a" * 29
PIN = "5678"


def test_an_intent_from_before_staff_sessions_decodes_without_a_session() -> None:
    payload = (BEFORE / "TxIntent.json").read_bytes()
    _, body = unseal(payload, device_topic(DEVICE_ID, Family.TX), key_for, m.TxIntent)
    assert body.staff == "anna"
    assert (body.staff_session, body.staff_offline) == ("", False)


def test_a_staff_request_from_before_staff_sessions_decodes_without_a_session() -> None:
    payload = (BEFORE / "StaffRequest.json").read_bytes()
    topic = device_topic(DEVICE_ID, Family.STAFF)
    _, body = unseal(payload, topic, key_for, sm.StaffRequest)
    assert (body.staff, body.session) == ("ann", "")
    assert isinstance(body.op, sm.RegisterMember)


def test_a_clear_pin_login_from_an_older_terminal_still_decodes() -> None:
    """So that the hub can answer it (with a refusal), not drop it unanswered."""
    raw = b'{"device":"kiosk-1","staff":"ann","op":{"kind":"login","pin":"5678"}}'
    body = msgspec.json.decode(raw, type=sm.StaffRequest)
    assert isinstance(body.op, sm.StaffLogin)
    assert (body.op.pin, body.op.sealed_pin) == (PIN, "")


def _sealed_login() -> tuple[sm.StaffRequest, bytes]:
    seal = sm.PinSeal(pin=PIN, challenge=CHALLENGE, device=DEVICE_ID, staff="ann")
    op = sm.StaffLogin(sealed_pin=seal_pin(HUB_KEY.verify_key, seal))
    request = sm.StaffRequest(device=DEVICE_ID, staff="ann", op=op)
    return request, _device(Family.STAFF, request).sealed()


def test_a_sealed_pin_is_not_readable_on_the_wire() -> None:
    request, payload = _sealed_login()
    assert PIN.encode() not in payload
    assert b'"pin"' not in payload.replace(b'\\"sealed_pin\\"', b"")
    assert isinstance(request.op, sm.StaffLogin)
    box = base64.b64decode(request.op.sealed_pin)
    assert PIN.encode() not in box and CHALLENGE.encode() not in box
    assert len(request.op.sealed_pin) <= sm.SEALED_PIN_CHARS_MAX


def test_only_the_hub_key_opens_a_sealed_pin() -> None:
    request, _ = _sealed_login()
    assert isinstance(request.op, sm.StaffLogin)
    opened = open_pin(HUB_KEY, request.op.sealed_pin)
    assert opened == sm.PinSeal(pin=PIN, challenge=CHALLENGE, device=DEVICE_ID, staff="ann")
    for wrong in (DEVICE_KEY, SigningKey(bytes(32))):
        with pytest.raises(ValidationError):
            open_pin(wrong, request.op.sealed_pin)


def test_each_seal_differs_and_a_changed_byte_is_refused() -> None:
    seal = sm.PinSeal(pin=PIN, challenge=CHALLENGE, device=DEVICE_ID, staff="ann")
    first, second = (seal_pin(HUB_KEY.verify_key, seal) for _ in range(2))
    assert first != second  # a fresh ephemeral key per box: equal PINs look unrelated
    box = bytearray(base64.b64decode(first))
    box[-1] ^= 1
    for bad in (base64.b64encode(bytes(box)).decode(), "not base64!", "", first[:-8]):
        with pytest.raises(ValidationError):
            open_pin(HUB_KEY, bad)


def test_sessions_on_the_wire_are_the_hubs_token_form() -> None:
    assert len(SESSION) == 32
    good = {"device": DEVICE_ID, "staff": "ann", "session": SESSION, "op": {"kind": "challenge"}}
    assert msgspec.convert(good, sm.StaffRequest).session == SESSION
    for bad in ("short", SESSION + "x", SESSION[:-1] + "/", SESSION + "\n"):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**good, "session": bad}, sm.StaffRequest)
