"""Scenario: the reference applet answers the APDUs of docs/card-profile.md exactly, and
an NTAG originality signature made with a test key verifies while a wrong one does not.
"""

from __future__ import annotations

from nacl.signing import SigningKey

from tapcard.cards.applet import (
    CREDENTIAL_READ_BYTES,
    FILE_ID_CREDENTIAL,
    TAPCARD_AID,
    CardApplet,
    StatusWord,
)
from tapcard.cards.credential import challenge_message
from tapcard.cards.originality import (
    NXP_NTAG21X_PUBLIC_KEY,
    Originality,
    check_originality,
    parse_public_key,
    public_key_for_tests,
    sign_for_tests,
)

UID = bytes.fromhex("04a1b2c3d4e5f6")
SELECT_APP = bytes([0, 0xA4, 4, 0, len(TAPCARD_AID)]) + TAPCARD_AID
SELECT_EF = bytes([0, 0xA4, 2, 0x0C, 2]) + FILE_ID_CREDENTIAL.to_bytes(2, "big")


def sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def test_applet_profile() -> None:
    key = SigningKey.generate()
    applet = CardApplet(UID, b"\x01\x02\x03", key)
    assert applet.process(bytes.fromhex("ffca000000")) == UID + b"\x90\x00"
    assert sw(applet.process(bytes([0, 0xB0, 0, 0, 5]))) == StatusWord.NOT_ALLOWED
    assert sw(applet.process(SELECT_APP[:-1] + b"\x02")) == StatusWord.FILE_NOT_FOUND
    assert applet.process(SELECT_APP) == b"\x90\x00"
    assert sw(applet.process(bytes([0, 0xB0, 0, 0, 5]))) == StatusWord.NOT_ALLOWED  # no EF
    assert applet.process(SELECT_EF) == b"\x90\x00"
    read = applet.process(bytes([0, 0xB0, 0, 0, CREDENTIAL_READ_BYTES]))
    assert read[:5] == b"\x00\x03\x01\x02\x03" and sw(read) == StatusWord.OK
    assert sw(applet.process(bytes([0, 0xB0, 1, 0, 1]))) == StatusWord.WRONG_OFFSET
    tail = applet.process(bytes([0, 0xB0, 0, 0xFE, 4]))
    assert len(tail) == 4 and sw(tail) == StatusWord.END_OF_FILE
    assert applet.process(bytes([0, 0xD6, 0, 0, 2, 0, 1])) == b"\x90\x00"
    assert applet.credential == b"\x01"
    assert sw(applet.process(bytes([0, 0xD6, 0, 0xFF, 2, 0, 1]))) == StatusWord.WRONG_OFFSET
    assert applet.process(bytes([0, 0xCA, 1, 1, 32])) == bytes(key.verify_key) + b"\x90\x00"
    challenge = bytes(range(16))
    answer = applet.process(bytes([0, 0x88, 0, 0, 16]) + challenge + b"\x00")
    key.verify_key.verify(challenge_message(challenge), answer[:-2])
    assert sw(applet.process(bytes([0, 0x88, 0, 0, 3, 1, 2, 3]))) == StatusWord.WRONG_LENGTH
    assert sw(applet.process(bytes([0, 0x12, 0, 0]))) == StatusWord.INS_NOT_SUPPORTED
    assert sw(applet.process(bytes([0x80, 0xB0, 0, 0]))) == StatusWord.CLA_NOT_SUPPORTED
    applet.reset()
    assert sw(applet.process(bytes([0, 0xCA, 1, 1, 32]))) == StatusWord.NOT_ALLOWED


def test_keyless_card_says_data_not_found() -> None:
    applet = CardApplet(UID)
    applet.process(SELECT_APP)
    assert sw(applet.process(bytes([0, 0xCA, 1, 1, 32]))) == StatusWord.DATA_NOT_FOUND
    challenge = bytes([0, 0x88, 0, 0, 16]) + bytes(16)
    assert sw(applet.process(challenge)) == StatusWord.DATA_NOT_FOUND


def test_originality_signature() -> None:
    parse_public_key(NXP_NTAG21X_PUBLIC_KEY)  # NXP's key is a point on secp128r1
    test_key = public_key_for_tests(0x1234567)
    signature = sign_for_tests(UID, 0x1234567, 0x7654321)
    assert check_originality(UID, signature, [test_key]) is Originality.GENUINE
    other_uid = UID[:-1] + b"\x00"
    assert check_originality(other_uid, signature, [test_key]) is Originality.NOT_GENUINE
    assert check_originality(UID, signature, [NXP_NTAG21X_PUBLIC_KEY]) is Originality.NOT_GENUINE
    # A signing model with no signature is a suspected clone, no longer "unchecked".
    assert check_originality(UID, bytes(32), [test_key]) is Originality.MISSING
    assert check_originality(UID, None, [test_key]) is Originality.MISSING
