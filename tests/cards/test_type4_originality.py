"""Type 4 (ISO-DEP) originality: NTAG 424 DNA and DESFire answer GetVersion and Read_Sig.

Scenario: the secp224r1 arithmetic agrees with an independent implementation (the
`cryptography` package signs, we verify, and the other way round), and NXP's published
keys lie on the curve. A key-less card (a credential without a card key) on an emulated
NTAG 424 DNA, tapped on the simulated reader: with its genuine signature it is
accepted; with none (Read_Sig refused), an all-zero one or another chip's it is
refused as a suspected clone (CHIP_UNVERIFIED / CHIP_NOT_GENUINE), unless the rules
allow unchecked tags for its kind (only when the signature is missing). A DESFire EV1
(no signature in the model) and a chip with no native side stay UNCHECKED, as does a
smart card with its own key (it proves itself by challenge). The nfcpy path speaks the
same bytes through Type4Tag.send_apdu, and a lost frame on Read_Sig reads as missing.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from nacl.signing import SigningKey

from tapcard.cards.applet import CardApplet
from tapcard.cards.credential import CredentialError, CredentialReason, issue_credential
from tapcard.cards.originality import (
    SECP224R1,
    Originality,
    parse_public_key,
    public_key_for_tests,
    sign_for_tests,
    verify_signature,
)
from tapcard.cards.type4 import (
    NTAG424_VERSION,
    NXP_ISO_DEP_PUBLIC_KEYS,
    NativeChip,
    transmit_to,
    type4_originality,
)
from tapcard.readers import authenticate_tap
from tapcard.readers.base import CardTap
from tapcard.readers.nfcpy import SW_LOST_FRAME, NfcpyReader
from tapcard.readers.sim import SimCard, SimReader, make_sim_card

ISSUER = SigningKey.generate()
UID = bytes.fromhex("04a1b2c3d4e5f6")
OTHER_UID = bytes.fromhex("04a1b2c3d4e5f7")
TEST_KEY = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF12345678
NONCE = 0x0FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9
TEST_PUBLIC = public_key_for_tests(TEST_KEY, SECP224R1)
DESFIRE_EV1_VERSION = bytes.fromhex("0401010100180504010101001805") + bytes(14)
TAP_MS = 1000


def _signature(uid: bytes) -> bytes:
    return sign_for_tests(uid, TEST_KEY, NONCE, SECP224R1)


def test_secp224r1_agrees_with_an_independent_implementation() -> None:
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")
    utils = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.utils")
    private = ec.derive_private_key(TEST_KEY, ec.SECP224R1())
    numbers = private.public_key().public_numbers()
    assert b"\x04" + numbers.x.to_bytes(28, "big") + numbers.y.to_bytes(28, "big") == TEST_PUBLIC
    # NXP signs the UID itself: as a 28-byte "digest" it is the same integer.
    prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA224()))
    der = private.sign(UID.rjust(28, b"\0"), prehashed)
    r, s = utils.decode_dss_signature(der)
    assert verify_signature(
        UID, r.to_bytes(28, "big") + s.to_bytes(28, "big"), TEST_PUBLIC, SECP224R1
    )
    mine = _signature(UID)
    ours = utils.encode_dss_signature(
        int.from_bytes(mine[:28], "big"), int.from_bytes(mine[28:], "big")
    )
    private.public_key().verify(ours, UID.rjust(28, b"\0"), prehashed)  # raises if wrong
    assert not verify_signature(OTHER_UID, mine, TEST_PUBLIC, SECP224R1)
    for key in NXP_ISO_DEP_PUBLIC_KEYS:
        parse_public_key(key, SECP224R1)  # on the curve, or ValueError


def _key_less(uid: bytes, native: NativeChip | None) -> SimCard:
    credential = issue_credential(ISSUER, "C000424", uid, dt.date(2025, 1, 1), None)
    return SimCard(uid, credential, None, native)


def _tap(card: SimCard) -> tuple[SimReader, CardTap]:
    reader = SimReader(type4_keys=(TEST_PUBLIC,))
    reader.tap(card)
    tap = reader.wait_for_card(TAP_MS)
    assert tap is not None
    return reader, tap


@pytest.mark.parametrize(
    ("signature", "expected", "reason"),
    [
        (_signature(UID), Originality.GENUINE, None),
        (None, Originality.MISSING, CredentialReason.CHIP_UNVERIFIED),
        (bytes(56), Originality.MISSING, CredentialReason.CHIP_UNVERIFIED),
        (_signature(OTHER_UID), Originality.NOT_GENUINE, CredentialReason.CHIP_NOT_GENUINE),
    ],
    ids=["genuine", "refused", "all-zero", "another-chips"],
)
def test_an_ntag424_on_the_simulated_reader(
    signature: bytes | None,
    expected: Originality,
    reason: CredentialReason | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader, tap = _tap(_key_less(UID, NativeChip(NTAG424_VERSION, signature)))
    assert tap.originality is expected
    if reason is None:
        assert authenticate_tap(tap, [ISSUER.verify_key], TAP_MS).card_id == "C000424"
        return
    with caplog.at_level(logging.WARNING), pytest.raises(CredentialError) as refused:
        authenticate_tap(tap, [ISSUER.verify_key], TAP_MS)
    assert refused.value.reason is reason
    assert "suspected clone" in caplog.text and UID.hex() in caplog.text
    allowed = expected is Originality.MISSING  # the rules may allow kinds without value
    if allowed:
        assert authenticate_tap(tap, [ISSUER.verify_key], TAP_MS, lambda _card: True)
    reader.close()


def test_models_without_a_signature_stay_unchecked() -> None:
    for native in (NativeChip(DESFIRE_EV1_VERSION, None), None):
        _, tap = _tap(_key_less(UID, native))
        assert tap.originality is Originality.UNCHECKED
        assert authenticate_tap(tap, [ISSUER.verify_key], TAP_MS).card_id == "C000424"
    smart = make_sim_card(ISSUER, b"\x09" * 32, "C000425", UID, dt.date(2025, 1, 1))
    _, tap = _tap(
        SimCard(smart.uid, smart.credential, smart.card_seed, NativeChip(NTAG424_VERSION, None))
    )
    assert tap.originality is Originality.UNCHECKED


class _Tag:
    """What nfcpy's Type4Tag offers the reader (send_apdu), answered by the applet."""

    def __init__(self, applet: CardApplet, lose: int = 0) -> None:
        self.applet, self.lose, self.identifier, self.is_present = applet, lose, applet.uid, True
        self.sent = 0

    def send_apdu(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes | None = None,
        mrl: int = 0,
        check_status: bool = True,
    ) -> bytes:
        import nfc.tag

        assert not check_status and mrl == 256
        self.sent += 1
        if self.sent == self.lose:
            raise nfc.tag.TagCommandError(nfc.tag.TIMEOUT_ERROR)
        body = bytes([len(data)]) + data if data else b""
        return self.applet.process(bytes([cla, ins, p1, p2]) + body + b"\x00")


def test_the_nfcpy_path_speaks_the_same_bytes() -> None:
    reader = NfcpyReader("udp", type4_keys=(TEST_PUBLIC,))
    genuine = CardApplet(UID, native=NativeChip(NTAG424_VERSION, _signature(UID)))
    assert (
        type4_originality(reader._tt4_transmit(_Tag(genuine)), UID, (TEST_PUBLIC,))
        is Originality.GENUINE
    )
    direct = type4_originality(transmit_to(genuine.process), UID, (TEST_PUBLIC,))
    assert direct is Originality.GENUINE
    lost = _Tag(genuine, lose=4)  # GetVersion took 3 frames; Read_Sig's answer is lost
    transmit = reader._tt4_transmit(lost)
    assert type4_originality(transmit, UID, (TEST_PUBLIC,)) is Originality.MISSING
    assert SW_LOST_FRAME == 0x6F00
