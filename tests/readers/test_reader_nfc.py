"""Scenario: a kiosk with an NFC reader and NTAG213 member tags. The reader stack is real
nfcpy (its UDP driver stands in for the USB frontend); only the tag is emulated, frame by
frame (tests/readers/ntag_emulator.py). A genuine tag with a valid originality signature
passes; a fake chip, a tag with no or an all-zero signature (a suspected clone, unless
the rules allow unchecked tags for the card's kind), a tag pulled mid-read, garbled
reads, copied or forged credentials are refused; a blank tag gets its credential written.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from nacl.signing import SigningKey
from ntag_emulator import NtagEmulator  # tests/readers is on sys.path (no __init__.py)

from tapcard.cards.credential import (
    CLONE_REASONS,
    CredentialError,
    CredentialReason,
    issue_credential,
)
from tapcard.cards.originality import Originality, public_key_for_tests, sign_for_tests
from tapcard.domain.model import CardKind
from tapcard.domain.rules import RuleSet, unchecked_tag_allowed
from tapcard.readers import (
    Backend,
    HealthState,
    ReaderConfig,
    ReaderError,
    ReaderReason,
    authenticate_tap,
    open_reader,
)
from tapcard.readers.nfcpy import NfcpyReader

ISSUER = SigningKey.generate()
UID = bytes.fromhex("04112233445566")
NXP_TEST_KEY = 0x1F2E3D4C5B6A7988  # stands in for NXP's private key
ORIGINALITY_KEY = public_key_for_tests(NXP_TEST_KEY)
GENUINE_SIGNATURE = sign_for_tests(UID, NXP_TEST_KEY, 0x123456789)
CREDENTIAL = issue_credential(ISSUER, "C000123", UID, dt.date(2025, 1, 1))
# The UDP driver waits up to 1 s for an answer per sense round; calls may overrun by that.
SENSE_SLACK_S = 1.3


def reader_for(emulator: NtagEmulator) -> NfcpyReader:
    config = ReaderConfig(
        backend=Backend.NFC,
        reader=f"udp:127.0.0.1:{emulator.port}",
        originality_keys=(ORIGINALITY_KEY,),
    )
    reader = open_reader(config)
    assert isinstance(reader, NfcpyReader)
    return reader


@pytest.fixture
def written_tag() -> Iterator[NtagEmulator]:
    emulator = NtagEmulator(UID, signature=GENUINE_SIGNATURE)
    with emulator:
        reader = reader_for(emulator)
        tap = reader.wait_for_card(3000)
        assert tap is not None and tap.is_blank
        reader.write_credential(CREDENTIAL, 3000)
        reader.close()
        yield emulator


def test_issue_onto_a_blank_tag_then_verify(written_tag: NtagEmulator) -> None:
    # The credential is in the tag's memory as one NDEF record of our external type.
    assert b"tapcard.example:cred" in written_tag.user_bytes
    assert CREDENTIAL in written_tag.user_bytes
    reader = reader_for(written_tag)
    assert reader.health().state is HealthState.OK
    tap = reader.wait_for_card(3000)
    assert tap is not None
    assert (tap.uid, tap.credential, tap.backend) == (UID, CREDENTIAL, Backend.NFC)
    assert tap.originality is Originality.GENUINE and tap.responder is None
    assert authenticate_tap(tap, [ISSUER.verify_key], 1000).card_id == "C000123"
    assert reader.wait_for_removal(200) is False
    reader.close()


def test_removal_is_seen(written_tag: NtagEmulator) -> None:
    reader = reader_for(written_tag)
    assert reader.wait_for_card(3000) is not None
    written_tag.mute_after = written_tag.memory_commands  # the tag leaves the field
    started = time.monotonic()
    assert reader.wait_for_removal(2000) is True
    assert time.monotonic() - started < 1.0
    reader.close()


def test_fake_chip_fails_the_originality_check(written_tag: NtagEmulator) -> None:
    written_tag.signature = sign_for_tests(UID, NXP_TEST_KEY + 1, 0x42)
    reader = reader_for(written_tag)
    tap = reader.wait_for_card(3000)
    assert tap is not None and tap.originality is Originality.NOT_GENUINE
    with pytest.raises(CredentialError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is CredentialReason.CHIP_NOT_GENUINE
    reader.close()


# These tags used to be accepted as "unchecked": a UID-changeable clone with a copied
# credential passed that way. An NTAG21x always has a signature, so none is refused.
@pytest.mark.parametrize("signature", [bytes(32), None], ids=["all_zero", "no_read_sig"])
def test_ntag_without_signature_is_refused_as_a_clone(
    written_tag: NtagEmulator, signature: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    written_tag.signature = signature
    reader = reader_for(written_tag)
    tap = reader.wait_for_card(3000)
    assert tap is not None and tap.originality is Originality.MISSING
    with pytest.raises(CredentialError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is CredentialReason.CHIP_UNVERIFIED
    assert caught.value.reason in CLONE_REASONS
    # A gate that does not allow the card's kind refuses it the same way.
    with pytest.raises(CredentialError) as gated:
        authenticate_tap(tap, [ISSUER.verify_key], 1000, lambda _card_id: False)
    assert gated.value.reason is CredentialReason.CHIP_UNVERIFIED
    assert "suspected clone: card C000123 on chip 04112233445566" in caplog.text
    # The chip is still in the field (a mute READ_SIG did not read as a pulled tag).
    assert reader.wait_for_removal(200) is False
    reader.close()


def test_ntag_without_signature_passes_for_a_kind_the_rules_allow(
    written_tag: NtagEmulator,
) -> None:
    written_tag.signature = None
    rules = RuleSet(1, "r", unchecked_tag_kinds=(CardKind.PARKING,))
    kinds = {"C000123": CardKind.PARKING.value}
    reader = reader_for(written_tag)
    tap = reader.wait_for_card(3000)
    assert tap is not None and tap.originality is Originality.MISSING
    card = authenticate_tap(
        tap, [ISSUER.verify_key], 1000, lambda card_id: unchecked_tag_allowed(rules, kinds[card_id])
    )
    assert card.card_id == "C000123"
    reader.close()


def test_genuine_tag_pulled_during_read_sig_is_not_a_clone(written_tag: NtagEmulator) -> None:
    written_tag.leaves_at_read_sig = True
    reader = reader_for(written_tag)
    with pytest.raises(ReaderError) as caught:
        reader.wait_for_card(3000)
    assert caught.value.reason is ReaderReason.CARD_REMOVED
    assert "READ_SIG" in caught.value.detail and written_tag.gone
    reader.close()


@pytest.mark.parametrize("mute_after", [3, 5])
def test_tag_pulled_mid_read(mute_after: int) -> None:
    with NtagEmulator(UID, signature=GENUINE_SIGNATURE) as emulator:
        emulator.memory[16:20] = b"\x03\x50\xd4\x14"  # an NDEF message long enough to page
        emulator.mute_after = mute_after
        reader = reader_for(emulator)
        with pytest.raises(ReaderError) as caught:
            reader.wait_for_card(3000)
        assert caught.value.reason in (ReaderReason.CARD_REMOVED,)
        reader.close()


def test_garbage_reads() -> None:
    with NtagEmulator(UID, signature=GENUINE_SIGNATURE, garbage_reads=True) as emulator:
        reader = reader_for(emulator)
        with pytest.raises(ReaderError) as caught:
            reader.wait_for_card(3000)
        assert caught.value.reason in (ReaderReason.GARBAGE, ReaderReason.CARD_REMOVED)
        reader.close()


@pytest.mark.parametrize(
    ("credential", "reason"),
    [
        (issue_credential(ISSUER, "C000123", UID[:-1] + b"\x00", dt.date(2025, 1, 1)), "uid"),
        (CREDENTIAL[:-1] + bytes([CREDENTIAL[-1] ^ 1]), "sig"),
        (CREDENTIAL[:50], "trunc"),
    ],
    ids=["copied-from-other-chip", "forged", "truncated"],
)
def test_bad_credentials_on_a_tag(credential: bytes, reason: str) -> None:
    expected = {
        "uid": CredentialReason.UID_MISMATCH,
        "sig": CredentialReason.BAD_SIGNATURE,
        "trunc": CredentialReason.TRUNCATED,
    }[reason]
    with NtagEmulator(UID, signature=GENUINE_SIGNATURE) as emulator:
        reader = reader_for(emulator)
        assert reader.wait_for_card(3000) is not None
        reader.write_credential(credential, 3000)
        tap = reader.wait_for_card(3000)
        assert tap is not None and tap.credential == credential
        with pytest.raises(CredentialError) as caught:
            authenticate_tap(tap, [ISSUER.verify_key], 1000)
        assert caught.value.reason is expected
        reader.close()


def test_no_tag_in_the_field_honours_the_timeout() -> None:
    with NtagEmulator(UID) as emulator:
        port = emulator.port
    reader = NfcpyReader(f"udp:127.0.0.1:{port}", [ORIGINALITY_KEY])  # nothing answers
    started = time.monotonic()
    assert reader.wait_for_card(300) is None
    assert time.monotonic() - started < 0.3 + SENSE_SLACK_S
    with pytest.raises(ReaderError) as caught:
        reader.answer_challenge(bytes(16), 100)
    assert caught.value.reason is ReaderReason.NOT_SUPPORTED
    reader.close()


def test_oversized_credential_is_not_written() -> None:
    with NtagEmulator(UID) as emulator:
        reader = reader_for(emulator)
        assert reader.wait_for_card(3000) is not None
        with pytest.raises(ReaderError) as caught:
            reader.write_credential(b"\x01" * 150, 3000)
        assert caught.value.reason is ReaderReason.NOT_SUPPORTED
        reader.close()


def test_unknown_device_path_is_no_reader() -> None:
    reader = NfcpyReader("usb:ffff:ffff")
    assert reader.health().state is HealthState.NO_READER
    with pytest.raises(ReaderError) as caught:
        reader.wait_for_card(100)
    assert caught.value.reason is ReaderReason.NO_READER
    reader.close()
