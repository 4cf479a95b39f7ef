"""The one card-reader interface every backend (pcsc, nfc, sim) implements.

Reader I/O blocks, so callers run it off the UI thread; every call takes a timeout
and returns or raises within it (plus at most one APDU or NFC frame in flight, which
the driver bounds). Expected failures raise `ReaderError` with a reason; a missing
reader is reported by `health()` and by `ReaderReason.NO_READER`, never by a crash.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from nacl.signing import VerifyKey

from tapcard.cards.credential import (
    CHALLENGE_BYTES,
    CredentialError,
    CredentialReason,
    VerifiedCard,
    verify_challenge_response,
    verify_credential,
)
from tapcard.cards.originality import Originality
from tapcard.errors import TapcardError

log = logging.getLogger(__name__)

# Upper bound for any single reader call a caller may ask for: a kiosk that waits
# longer should loop, so that it can notice shutdown and report health in between.
CALL_TIMEOUT_MS_MAX = 60_000
# How often a backend looks again for an unplugged reader while waiting for a card.
READER_POLL_INTERVAL_MS = 250
assert READER_POLL_INTERVAL_MS < CALL_TIMEOUT_MS_MAX


class Backend(enum.StrEnum):
    PCSC = "pcsc"
    NFC = "nfc"
    SIM = "sim"


class HealthState(enum.StrEnum):
    OK = "ok"
    NO_READER = "no_reader"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class ReaderHealth:
    state: HealthState
    message: str = ""


class ReaderReason(enum.IntEnum):
    NO_READER = 1  # nothing plugged in (or not the configured one)
    FAULT = 2  # the reader stack (pcscd, USB, driver) failed
    NO_CARD = 3  # a call that needs a card found none
    CARD_REMOVED = 4  # the card left the field during the call
    CARD_REFUSED = 5  # the card answered with an error status
    GARBAGE = 6  # the card's answer does not parse
    WRITE_FAILED = 7  # the written credential did not read back identically
    NOT_SUPPORTED = 8  # this card or backend cannot do what was asked
    TIMEOUT = 9


class ReaderError(TapcardError):
    def __init__(self, reason: ReaderReason, detail: str) -> None:
        super().__init__(f"card reader: {reason.name.lower()}: {detail}")
        self.reason = reason
        self.detail = detail


class ChallengeResponder(Protocol):
    def answer_challenge(self, challenge: bytes, timeout_ms: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class CardTap:
    """One card in the field, as read; nothing here is trusted until verified."""

    uid: bytes
    credential: bytes  # b"" on a blank card
    backend: Backend
    reader_name: str
    card_public_key: bytes | None  # what the card says its key is (issuing needs it)
    originality: Originality
    responder: ChallengeResponder | None  # None: the card cannot answer challenges

    @property
    def is_blank(self) -> bool:
        return not self.credential


# Whether the card with this (verified) card id may be accepted from a tag of a signing
# model that gave no originality signature: the device answers from the rules and the
# card's kind as the hub reported it. None: never.
UncheckedAllowed = Callable[[str], bool]


class CardReader(Protocol):
    """What the device runtime needs from a reader, whatever the hardware."""

    @property
    def backend(self) -> Backend: ...

    def health(self) -> ReaderHealth: ...

    def wait_for_card(self, timeout_ms: int) -> CardTap | None:
        """The card in the field, or None when none came within the timeout."""
        ...

    def read_credential(self, timeout_ms: int) -> bytes: ...

    def write_credential(self, credential: bytes, timeout_ms: int) -> None:
        """Write, read back and compare; raises WRITE_FAILED when they differ."""
        ...

    def answer_challenge(self, challenge: bytes, timeout_ms: int) -> bytes: ...

    def wait_for_removal(self, timeout_ms: int) -> bool:
        """True once the field is empty, False if the card is still there at the timeout."""
        ...

    def close(self) -> None: ...


class Deadline:
    """A point in monotonic time that bounds one reader call."""

    def __init__(self, timeout_ms: int) -> None:
        assert 0 <= timeout_ms <= CALL_TIMEOUT_MS_MAX, timeout_ms
        self.at = time.monotonic() + timeout_ms / 1000

    def remaining_ms(self) -> int:
        return max(0, int((self.at - time.monotonic()) * 1000))

    def expired(self) -> bool:
        return time.monotonic() >= self.at


def authenticate_tap(
    tap: CardTap,
    issuer_public_keys: Iterable[VerifyKey],
    timeout_ms: int,
    unchecked_allowed: UncheckedAllowed | None = None,
) -> VerifiedCard:
    """Verify the credential of a tap and, where the credential names a card key, the card.

    A tag whose model signs its UID but that gave no signature (Originality.MISSING) is
    refused as a suspected clone (CHIP_UNVERIFIED) unless `unchecked_allowed` says its
    card may do without. Raises CredentialError (forged, copied, cloned, wrong answer)
    or ReaderError (card pulled).
    """
    if tap.originality is Originality.NOT_GENUINE:
        _log_clone(tap, "", "its originality signature is invalid")
        raise CredentialError(
            CredentialReason.CHIP_NOT_GENUINE, "the chip's originality signature is invalid"
        )
    card = verify_credential(tap.credential, tap.uid, issuer_public_keys)
    if card.card_public_key is None:
        _require_original(tap, card, unchecked_allowed)
        return card
    if tap.responder is None:
        raise CredentialError(
            CredentialReason.BAD_CHALLENGE_RESPONSE,
            "the credential names a card key but the card cannot answer a challenge",
        )
    challenge = os.urandom(CHALLENGE_BYTES)
    response = tap.responder.answer_challenge(challenge, timeout_ms)
    verify_challenge_response(card, challenge, response)
    return card


def _require_original(
    tap: CardTap, card: VerifiedCard, unchecked_allowed: UncheckedAllowed | None
) -> None:
    """A key-less credential is only as good as the chip: a copy of it onto a
    UID-changeable clone differs from the original in the missing signature alone."""
    if tap.originality is not Originality.MISSING:
        return
    if unchecked_allowed is not None and unchecked_allowed(card.card_id):
        log.info("card %s accepted unchecked from chip %s", card.card_id, tap.uid.hex())
        return
    _log_clone(tap, card.card_id, "it gave no originality signature")
    raise CredentialError(
        CredentialReason.CHIP_UNVERIFIED,
        f"chip {tap.uid.hex()} gave no originality signature; its card cannot be verified",
    )


def _log_clone(tap: CardTap, card_id: str, why: str) -> None:
    log.warning(
        "suspected clone: card %s on chip %s from %s refused, %s",
        card_id or "?",
        tap.uid.hex(),
        tap.reader_name,
        why,
    )
