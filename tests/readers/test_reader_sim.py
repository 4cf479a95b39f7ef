"""Scenario: a demo kiosk without hardware. A card is tapped in process or through the
simulator's Unix socket from another process, verified with its challenge, removed;
a blank simulated card gets a credential written by the issuing terminal.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from tapcard.cards.credential import CredentialError, CredentialReason, issue_credential
from tapcard.readers import Backend, ReaderConfig, ReaderError, ReaderReason, open_reader
from tapcard.readers.base import authenticate_tap
from tapcard.readers.sim import SimCard, SimReader, make_sim_card, send_sim_command

ISSUER = SigningKey.generate()
MASTER = b"\x07" * 32
UID = bytes.fromhex("04a1b2c3d4e5f6")


def test_tap_verify_remove() -> None:
    reader = open_reader(ReaderConfig(backend=Backend.SIM))
    assert isinstance(reader, SimReader)
    started = time.monotonic()
    assert reader.wait_for_card(100) is None
    assert 0.09 <= time.monotonic() - started < 1.0
    reader.tap(make_sim_card(ISSUER, MASTER, "C000123", UID, dt.date(2025, 1, 1)))
    tap = reader.wait_for_card(100)
    assert tap is not None and tap.backend is Backend.SIM
    card = authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert card.card_id == "C000123"
    assert reader.wait_for_removal(50) is False
    reader.remove()
    assert reader.wait_for_removal(50) is True
    with pytest.raises(ReaderError) as caught:
        reader.read_credential(100)
    assert caught.value.reason is ReaderReason.NO_CARD
    reader.close()


def test_clone_without_the_card_key_is_refused() -> None:
    genuine = make_sim_card(ISSUER, MASTER, "C000123", UID, dt.date(2025, 1, 1))
    clone = SimCard(genuine.uid, genuine.credential, bytes(SigningKey.generate()))
    reader = SimReader()
    reader.tap(clone)
    tap = reader.wait_for_card(100)
    assert tap is not None
    with pytest.raises(CredentialError) as caught:
        authenticate_tap(tap, [ISSUER.verify_key], 1000)
    assert caught.value.reason is CredentialReason.BAD_CHALLENGE_RESPONSE
    reader.close()


def test_write_credential_to_blank_card() -> None:
    reader = SimReader()
    card_key = SigningKey.generate()
    reader.tap(SimCard(UID, b"", bytes(card_key)))
    tap = reader.wait_for_card(100)
    assert tap is not None and tap.is_blank and tap.card_public_key is not None
    raw = issue_credential(ISSUER, "C000777", tap.uid, dt.date(2025, 5, 5), tap.card_public_key)
    reader.write_credential(raw, 1000)
    again = reader.wait_for_card(100)
    assert again is not None
    assert authenticate_tap(again, [ISSUER.verify_key], 1000).card_id == "C000777"
    reader.close()


def test_taps_through_the_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.sock")
    reader = open_reader(ReaderConfig(backend=Backend.SIM, sim_socket_path=path))
    card = make_sim_card(ISSUER, MASTER, "C000124", UID, dt.date(2025, 1, 1))
    assert send_sim_command(path, card) == "ok"
    tap = reader.wait_for_card(1000)
    assert tap is not None
    assert authenticate_tap(tap, [ISSUER.verify_key], 1000).card_id == "C000124"
    assert send_sim_command(path, None) == "ok"
    assert reader.wait_for_removal(1000) is True
    reader.close()
    assert not Path(path).exists()
