"""Type 4 originality through real pcscd (vpcd): the PC/SC path asks a key-less card's
chip for GetVersion and Read_Sig.

Scenario: a credential without a card key on an emulated NTAG 424 DNA is GENUINE with
its signature and accepted; the same credential copied onto a chip that names itself
an NTAG 424 DNA but refuses Read_Sig is MISSING and refused as a suspected clone; a
smart card of our profile with its own key is not asked (it answers the challenge).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from nacl.signing import SigningKey

from tapcard.cards.credential import CredentialError, CredentialReason, issue_credential
from tapcard.cards.originality import SECP224R1, Originality, public_key_for_tests, sign_for_tests
from tapcard.cards.type4 import NTAG424_VERSION
from tapcard.readers import authenticate_tap
from tapcard.readers.pcsc import PcscReader
from tapcard.readers.sim import make_sim_card

ISSUER = SigningKey.generate()
UID = bytes.fromhex("04a1b2c3d4e5f6")
TEST_KEY = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF12345678
TEST_PUBLIC = public_key_for_tests(TEST_KEY, SECP224R1)
SIGNATURE = sign_for_tests(UID, TEST_KEY, 0x0FEDCBA9876543210FEDCBA98765432, SECP224R1)
INSERT_TIMEOUT_MS = 3000


@pytest.fixture
def reader(pcscd: Any) -> Iterator[PcscReader]:
    opened = PcscReader(pcscd.reader_name, type4_keys=(TEST_PUBLIC,))
    yield opened
    opened.close()


def _credential() -> bytes:
    return issue_credential(ISSUER, "C000424", UID, dt.date(2025, 1, 1), None)


def test_a_genuine_ntag424_then_its_copy_on_a_chip_without_signature(
    reader: PcscReader, insert_card: Any
) -> None:
    card = insert_card(UID, _credential(), None, "none:0", (NTAG424_VERSION, SIGNATURE))
    tap = reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert tap is not None and tap.originality is Originality.GENUINE
    assert authenticate_tap(tap, [ISSUER.verify_key], 1000).card_id == "C000424"
    card.pull()
    assert reader.wait_for_removal(INSERT_TIMEOUT_MS)
    insert_card(UID, _credential(), None, "none:0", (NTAG424_VERSION, None))
    clone = reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert clone is not None and clone.originality is Originality.MISSING
    with pytest.raises(CredentialError) as refused:
        authenticate_tap(clone, [ISSUER.verify_key], 1000)
    assert refused.value.reason is CredentialReason.CHIP_UNVERIFIED


def test_a_smart_card_with_its_own_key_is_not_asked(reader: PcscReader, insert_card: Any) -> None:
    smart = make_sim_card(ISSUER, b"\x09" * 32, "C000425", UID, dt.date(2025, 1, 1))
    insert_card(smart.uid, smart.credential, smart.card_seed, "none:0", (NTAG424_VERSION, None))
    tap = reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert tap is not None and tap.originality is Originality.UNCHECKED
    assert authenticate_tap(tap, [ISSUER.verify_key], 1000).card_id == "C000425"
