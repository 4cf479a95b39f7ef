"""Scenario: the hub issues a credential for card C000123 on chip 04A1B2C3D4E5F6; a kiosk
verifies it with the issuer's public keys only. Forged, truncated, re-signed, copied to
another chip or answered by a clone: each is refused with its own reason.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from tapcard.cards.credential import (
    CHALLENGE_BYTES,
    CREDENTIAL_BYTES_MAX,
    NTAG213_CREDENTIAL_BYTES_MAX,
    PUBLIC_KEY_BYTES,
    CredentialError,
    CredentialReason,
    answer_challenge,
    derive_card_signing_key,
    issue_credential,
    key_id,
    verify_challenge_response,
    verify_credential,
)
from tapcard.errors import TapcardError

ISSUER = SigningKey(bytes(range(32)))
UID = bytes.fromhex("04a1b2c3d4e5f6")
ISSUED = dt.date(2025, 3, 1)
MASTER = b"\x42" * 32
# Golden bytes: Ed25519 is deterministic, so the layout is pinned byte for byte.
GOLDEN_TAG_CREDENTIAL = bytes.fromhex(
    "5443010056474eb40704a1b2c3d4e5f607433030303132337fcb5db76dba00ae959399cd0124b3acd8"
    "c6e30be8cb34d33554aa88963547d9523ee6dbdb6f91f01764e83c3abb4f6aa2fe74f1551f8aa35b69d7"
    "ad6efb3e00"
)


def refused(raw: bytes, uid: bytes = UID, keys: list[SigningKey] | None = None) -> CredentialReason:
    trusted = [k.verify_key for k in (keys or [ISSUER])]
    with pytest.raises(CredentialError) as caught:
        verify_credential(raw, uid, trusted)
    assert isinstance(caught.value, TapcardError)
    assert caught.value.reason.name.lower() in str(caught.value)
    return caught.value.reason


def test_golden_bytes_and_round_trip() -> None:
    raw = issue_credential(ISSUER, "C000123", UID, ISSUED)
    assert raw == GOLDEN_TAG_CREDENTIAL, f"\n{raw.hex()}\n{GOLDEN_TAG_CREDENTIAL.hex()}"
    card = verify_credential(raw, UID, [ISSUER.verify_key])
    assert (card.card_id, card.uid, card.issued_on) == ("C000123", UID, ISSUED)
    assert card.card_public_key is None
    assert card.issuer_key_id == key_id(ISSUER.verify_key) == raw[4:6]


def test_sizes_fit_an_ntag213_and_the_smart_card_file() -> None:
    longest_tag = issue_credential(ISSUER, "C" * 32, bytes(10), ISSUED)
    assert len(longest_tag) <= NTAG213_CREDENTIAL_BYTES_MAX
    card_key = bytes(PUBLIC_KEY_BYTES)
    longest_card = issue_credential(ISSUER, "C" * 32, bytes(10), ISSUED, card_key)
    assert len(longest_card) == CREDENTIAL_BYTES_MAX
    assert len(issue_credential(ISSUER, "C000123", UID, ISSUED, card_key)) == 120


@pytest.mark.parametrize(
    ("card_id", "uid"),
    [("", UID), ("C" * 33, UID), ("C 12", UID), ("Ç1", UID), ("C1", bytes(3)), ("C1", bytes(11))],
)
def test_issuing_rejects_bad_fields(card_id: str, uid: bytes) -> None:
    with pytest.raises(CredentialError) as caught:
        issue_credential(ISSUER, card_id, uid, ISSUED)
    assert caught.value.reason is CredentialReason.BAD_FORMAT


def test_every_truncation_is_refused_as_truncated() -> None:
    raw = issue_credential(ISSUER, "C000123", UID, ISSUED)
    for cut in range(len(raw)):
        assert refused(raw[:cut]) is CredentialReason.TRUNCATED, cut
    assert refused(b"T") is CredentialReason.TRUNCATED


def test_header_checks() -> None:
    raw = issue_credential(ISSUER, "C000123", UID, ISSUED)
    assert refused(b"XX" + raw[2:]) is CredentialReason.BAD_MAGIC
    assert refused(raw[:2] + b"\x02" + raw[3:]) is CredentialReason.UNKNOWN_VERSION
    assert refused(raw[:3] + b"\x80" + raw[4:]) is CredentialReason.BAD_FORMAT
    assert refused(raw + b"\x00") is CredentialReason.BAD_FORMAT
    assert refused(raw[:8] + b"\x20" + raw[9:]) is CredentialReason.BAD_FORMAT  # uid length


def test_forged_field_breaks_the_signature() -> None:
    raw = bytearray(issue_credential(ISSUER, "C000123", UID, ISSUED))
    raw[raw.index(b"C000123")] = ord("D")  # another member's card id
    assert refused(bytes(raw), uid=UID) is CredentialReason.BAD_SIGNATURE
    raw = bytearray(issue_credential(ISSUER, "C000123", UID, ISSUED))
    raw[-1] ^= 0x01
    assert refused(bytes(raw)) is CredentialReason.BAD_SIGNATURE


def test_resigned_by_another_key() -> None:
    rogue = SigningKey.generate()
    raw = issue_credential(rogue, "C000123", UID, ISSUED)
    assert refused(raw) is CredentialReason.UNKNOWN_ISSUER
    # The rogue may claim the trusted key id; the signature still gives it away.
    claimed = raw[:4] + key_id(ISSUER.verify_key) + raw[6:]
    assert refused(claimed) is CredentialReason.BAD_SIGNATURE


def test_copied_to_another_chip() -> None:
    raw = issue_credential(ISSUER, "C000123", UID, ISSUED)
    assert refused(raw, uid=bytes.fromhex("04a1b2c3d4e5f7")) is CredentialReason.UID_MISMATCH


def test_key_rotation_accepts_old_and_new_issuer_keys() -> None:
    new_issuer = SigningKey.generate()
    old_card = issue_credential(ISSUER, "C000001", UID, ISSUED)
    new_card = issue_credential(new_issuer, "C000002", UID, ISSUED)
    both = [new_issuer.verify_key, ISSUER.verify_key]
    assert verify_credential(old_card, UID, both).card_id == "C000001"
    assert verify_credential(new_card, UID, both).card_id == "C000002"
    assert refused(old_card, keys=[new_issuer]) is CredentialReason.UNKNOWN_ISSUER


def test_challenge_response_with_the_card_key() -> None:
    card_key = derive_card_signing_key(MASTER, "C000123", UID)
    raw = issue_credential(ISSUER, "C000123", UID, ISSUED, bytes(card_key.verify_key))
    card = verify_credential(raw, UID, [ISSUER.verify_key])
    challenge = bytes(range(CHALLENGE_BYTES))
    verify_challenge_response(card, challenge, answer_challenge(card_key, challenge))

    clone_key = SigningKey.generate()  # a copy of the bytes, without the card's secret
    for answer in (answer_challenge(clone_key, challenge), b"\x00" * 64, b"short"):
        with pytest.raises(CredentialError) as caught:
            verify_challenge_response(card, challenge, answer)
        assert caught.value.reason is CredentialReason.BAD_CHALLENGE_RESPONSE
    replayed = answer_challenge(card_key, bytes(CHALLENGE_BYTES))
    with pytest.raises(CredentialError):
        verify_challenge_response(card, challenge, replayed)


def test_tag_credential_has_no_card_key_to_challenge() -> None:
    card = verify_credential(GOLDEN_TAG_CREDENTIAL, UID, [ISSUER.verify_key])
    with pytest.raises(CredentialError) as caught:
        verify_challenge_response(card, bytes(16), bytes(64))
    assert caught.value.reason is CredentialReason.NO_CARD_KEY


def test_derived_card_keys_are_per_card_and_stable() -> None:
    first = derive_card_signing_key(MASTER, "C000123", UID)
    assert bytes(first) == bytes(derive_card_signing_key(MASTER, "C000123", UID))
    others = {
        bytes(derive_card_signing_key(MASTER, "C000124", UID)),
        bytes(derive_card_signing_key(MASTER, "C000123", UID[:-1] + b"\x00")),
        bytes(derive_card_signing_key(b"\x43" * 32, "C000123", UID)),
    }
    assert bytes(first) not in others and len(others) == 3


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_never_crash(raw: bytes) -> None:
    with pytest.raises(CredentialError):
        verify_credential(raw, UID, [ISSUER.verify_key])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOLDEN_TAG_CREDENTIAL) - 1), st.integers(1, 255))
def test_any_single_byte_change_is_refused(index: int, flip: int) -> None:
    raw = bytearray(GOLDEN_TAG_CREDENTIAL)
    raw[index] ^= flip
    with pytest.raises(CredentialError):
        verify_credential(bytes(raw), UID, [ISSUER.verify_key])
