"""Scenario: a counter terminal with a PC/SC reader. The reader stack is real (a private
pcscd with the vpcd driver, pyscard); only the smart card is emulated, in its own process,
at the level of the APDU bytes it answers. A genuine card passes; a pulled, garbled,
cloned, copied, forged or truncated one is refused with its reason; a blank card gets a
credential written; pcscd going away is a health state, and it is picked up again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from nacl.signing import SigningKey

from tapcard.cards.credential import CredentialError, CredentialReason, issue_credential
from tapcard.readers import (
    Backend,
    HealthState,
    ReaderConfig,
    ReaderError,
    ReaderReason,
    authenticate_tap,
    open_reader,
)
from tapcard.readers.base import CardTap
from tapcard.readers.pcsc import PcscReader
from tapcard.readers.sim import SimCard, make_sim_card

ISSUER = SigningKey.generate()
MASTER = b"\x09" * 32
UID = bytes.fromhex("04a1b2c3d4e5f6")
OTHER_UID = bytes.fromhex("04a1b2c3d4e5f7")
# pcscd polls vpcd for a card about every 400 ms; a tap must show within that and slack.
INSERT_TIMEOUT_MS = 3000

Insert = Callable[..., Any]  # tests/readers/conftest.py: insert_card


@pytest.fixture
def reader(pcscd: Any) -> Iterator[PcscReader]:
    opened = open_reader(ReaderConfig(backend=Backend.PCSC, reader=pcscd.reader_name))
    assert isinstance(opened, PcscReader)
    yield opened
    opened.close()


def genuine(card_id: str = "C000123", uid: bytes = UID) -> SimCard:
    return make_sim_card(ISSUER, MASTER, card_id, uid, dt.date(2025, 1, 1))


def tap_of(reader: PcscReader, insert: Insert, card: SimCard, fault: str = "none:0") -> CardTap:
    insert(card.uid, card.credential, card.card_seed, fault)
    tap = reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert tap is not None, "emulated card was not seen by pcscd"
    return tap


def test_genuine_card_insert_verify_remove(reader: PcscReader, insert_card: Insert) -> None:
    assert reader.health().state is HealthState.OK
    started = time.monotonic()
    assert reader.wait_for_card(300) is None  # empty reader: the call honours its timeout
    assert time.monotonic() - started < 1.5
    card = genuine()
    emulated = insert_card(card.uid, card.credential, card.card_seed)
    tap = reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert tap is not None
    assert (tap.uid, tap.credential, tap.backend) == (UID, card.credential, Backend.PCSC)
    verified = authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert verified.card_id == "C000123"
    assert reader.wait_for_removal(100) is False
    emulated.pull()
    assert reader.wait_for_removal(INSERT_TIMEOUT_MS) is True
    with pytest.raises(ReaderError) as caught:
        reader.read_credential(500)
    assert caught.value.reason is ReaderReason.NO_CARD


def test_unknown_reader_name_is_no_reader(pcscd: Any) -> None:
    missing = PcscReader("No Such Reader")
    assert missing.health().state is HealthState.NO_READER
    started = time.monotonic()
    with pytest.raises(ReaderError) as caught:
        missing.wait_for_card(300)
    assert caught.value.reason is ReaderReason.NO_READER
    assert time.monotonic() - started < 1.5
    missing.close()


@pytest.mark.parametrize("apdu_number", [1, 3, 4])
def test_card_pulled_mid_read(reader: PcscReader, insert_card: Insert, apdu_number: int) -> None:
    card = genuine()
    insert_card(card.uid, card.credential, card.card_seed, f"remove:{apdu_number}")
    with pytest.raises(ReaderError) as caught:
        reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert caught.value.reason is ReaderReason.CARD_REMOVED


def test_card_pulled_before_the_challenge(reader: PcscReader, insert_card: Insert) -> None:
    card = genuine()
    tap = tap_of(reader, insert_card, card, "remove:6")  # 5 APDUs read it, the 6th signs
    with pytest.raises(ReaderError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is ReaderReason.CARD_REMOVED


@pytest.mark.parametrize("fault", ["garbage:1", "garbage:4", "badlen:0"])
def test_garbage_answers(reader: PcscReader, insert_card: Insert, fault: str) -> None:
    card = genuine()
    insert_card(card.uid, card.credential, card.card_seed, fault)
    with pytest.raises(ReaderError) as caught:
        reader.wait_for_card(INSERT_TIMEOUT_MS)
    assert caught.value.reason is ReaderReason.GARBAGE


def test_wrong_answer_to_the_challenge(reader: PcscReader, insert_card: Insert) -> None:
    tap = tap_of(reader, insert_card, genuine(), "wrongsig:0")
    with pytest.raises(CredentialError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is CredentialReason.BAD_CHALLENGE_RESPONSE


def test_clone_with_copied_uid_and_credential(reader: PcscReader, insert_card: Insert) -> None:
    card = genuine()
    clone = SimCard(card.uid, card.credential, bytes(SigningKey.generate()))
    tap = tap_of(reader, insert_card, clone)
    with pytest.raises(CredentialError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is CredentialReason.BAD_CHALLENGE_RESPONSE


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda c: SimCard(OTHER_UID, c.credential, c.card_seed), CredentialReason.UID_MISMATCH),
        (lambda c: SimCard(c.uid, c.credential[:60], c.card_seed), CredentialReason.TRUNCATED),
        (
            lambda c: SimCard(
                c.uid, c.credential[:-1] + bytes([c.credential[-1] ^ 1]), c.card_seed
            ),
            CredentialReason.BAD_SIGNATURE,
        ),
    ],
    ids=["copied-to-other-chip", "truncated", "forged"],
)
def test_bad_credentials_on_the_card(
    reader: PcscReader,
    insert_card: Insert,
    mangle: Callable[[SimCard], SimCard],
    reason: CredentialReason,
) -> None:
    tap = tap_of(reader, insert_card, mangle(genuine()))
    with pytest.raises(CredentialError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is reason


def test_issue_onto_a_blank_card(reader: PcscReader, insert_card: Insert) -> None:
    card_key = SigningKey.generate()
    tap = tap_of(reader, insert_card, SimCard(UID, b"", bytes(card_key)))
    assert tap.is_blank and tap.card_public_key == bytes(card_key.verify_key)
    raw = issue_credential(ISSUER, "C000900", tap.uid, dt.date(2025, 6, 1), tap.card_public_key)
    reader.write_credential(raw, 1000)
    assert reader.read_credential(1000) == raw
    again = reader.wait_for_card(1000)
    assert again is not None and again.credential == raw
    assert authenticate_tap(again, [ISSUER.verify_key], 1000).card_id == "C000900"


def test_pcscd_restart_is_a_health_state(
    reader: PcscReader, pcscd: Any, insert_card: Insert
) -> None:
    assert reader.health().state is HealthState.OK
    pcscd.stop()
    try:
        health = reader.health()
        assert health.state is HealthState.FAULT, health
        with pytest.raises(ReaderError) as caught:
            reader.wait_for_card(200)
        assert caught.value.reason is ReaderReason.FAULT
    finally:
        pcscd.start()
    assert reader.health().state is HealthState.OK
    tap = tap_of(reader, insert_card, genuine())
    assert authenticate_tap(tap, [ISSUER.verify_key], 1000).card_id == "C000123"
