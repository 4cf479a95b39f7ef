"""The card credential: a card id bound to a chip UID, signed by the issuer.

A card carries a credential, never a balance. The hub holds the issuer's Ed25519
signing key; devices hold only the public keys (several, so the key can rotate).
Smart cards also hold their own Ed25519 key, whose public half is inside the signed
credential: a device sends a random challenge and checks the card's signature over it,
so a copy of the credential bytes is not a working card and devices hold no secret.

Byte layout (all integers big-endian; docs/card-profile.md has the table):

    magic "TC" | version | flags | issuer key id (2) | issued on (days since 1970, 2)
    | uid length | uid | card id length | card id (ASCII) | [card public key (32)]
    | Ed25519 signature (64) over every byte before it

This module does no I/O: readers hand it bytes, it hands back a verdict.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import string
from collections.abc import Iterable
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tapcard.errors import TapcardError

CREDENTIAL_MAGIC = b"TC"
CREDENTIAL_VERSION = 1
FLAG_CARD_KEY = 0x01
FLAGS_KNOWN = FLAG_CARD_KEY

UID_BYTES_MIN = 4  # ISO 14443-3 single-size UID
UID_BYTES_MAX = 10  # triple-size UID
CARD_ID_CHARS_MAX = 32
CARD_ID_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_.")
KEY_ID_BYTES = 2
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
HEADER_BYTES = len(CREDENTIAL_MAGIC) + 1 + 1 + KEY_ID_BYTES + 2  # magic..issued_on

# The smallest well-formed credential: 4-byte UID, 1-char card id, no card key.
CREDENTIAL_BYTES_MIN = HEADER_BYTES + 1 + UID_BYTES_MIN + 1 + 1 + SIGNATURE_BYTES
CREDENTIAL_BYTES_MAX = (
    HEADER_BYTES + 1 + UID_BYTES_MAX + 1 + CARD_ID_CHARS_MAX + PUBLIC_KEY_BYTES + SIGNATURE_BYTES
)
# An NTAG213 holds 144 user bytes; the NDEF TLV and record header (external type
# "tapcard.example:cred") take 26, so a tag credential (no card key) must fit in 118.
NTAG213_CREDENTIAL_BYTES_MAX = 118
assert CREDENTIAL_BYTES_MAX - PUBLIC_KEY_BYTES <= NTAG213_CREDENTIAL_BYTES_MAX

CHALLENGE_BYTES = 16  # 128 bits: a replayed answer matches a new challenge with p = 2^-128
# Domain separation: a card's key signs nothing but challenges under this context, so
# a card cannot be used as an oracle for any other Ed25519 message.
CHALLENGE_CONTEXT = b"tapcard/challenge/v1:"
CARD_KEY_CONTEXT = b"tapcard/card-key/v1:"

EPOCH = dt.date(1970, 1, 1)
ISSUED_DAYS_MAX = 0xFFFF  # two bytes of days reach the year 2149


class CredentialReason(enum.IntEnum):
    """Why a credential or a card's challenge answer was refused."""

    TRUNCATED = 1
    BAD_MAGIC = 2
    UNKNOWN_VERSION = 3
    BAD_FORMAT = 4
    UNKNOWN_ISSUER = 5
    BAD_SIGNATURE = 6
    UID_MISMATCH = 7
    NO_CARD_KEY = 8
    BAD_CHALLENGE_RESPONSE = 9
    CHIP_NOT_GENUINE = 10  # NFC tag whose NXP originality signature fails
    CHIP_UNVERIFIED = 11  # NFC tag of a signing model that gave no originality signature


# Refusals that point at a cloned or fake chip rather than a damaged or foreign card.
CLONE_REASONS = frozenset({CredentialReason.CHIP_NOT_GENUINE, CredentialReason.CHIP_UNVERIFIED})


class CredentialError(TapcardError):
    """A credential (or a card's answer to a challenge) that must not be trusted."""

    def __init__(self, reason: CredentialReason, detail: str) -> None:
        super().__init__(f"card credential refused ({reason.name.lower()}): {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VerifiedCard:
    """What a verified credential says; every field is covered by the issuer signature."""

    card_id: str
    uid: bytes
    issued_on: dt.date
    version: int
    issuer_key_id: bytes
    card_public_key: bytes | None  # None: the card cannot answer challenges (NFC tags)


def key_id(public_key: VerifyKey) -> bytes:
    """The short id that tells a device which issuer key to try first."""
    return hashlib.sha256(bytes(public_key)).digest()[:KEY_ID_BYTES]


def _check_fields(card_id: str, uid: bytes, issued_on: dt.date, card_key: bytes | None) -> None:
    # Issuing is done by our own code: a bad field here is a programmer or operator error
    # that must be reported before anything reaches a card.
    if not 1 <= len(card_id) <= CARD_ID_CHARS_MAX or not set(card_id) <= CARD_ID_ALPHABET:
        raise CredentialError(
            CredentialReason.BAD_FORMAT, f"card id {card_id!r} is not 1-32 of [A-Za-z0-9-_.]"
        )
    if not UID_BYTES_MIN <= len(uid) <= UID_BYTES_MAX:
        raise CredentialError(CredentialReason.BAD_FORMAT, f"uid has {len(uid)} bytes, not 4-10")
    days = (issued_on - EPOCH).days
    if not 0 <= days <= ISSUED_DAYS_MAX:
        raise CredentialError(CredentialReason.BAD_FORMAT, f"issue date {issued_on} out of range")
    if card_key is not None and len(card_key) != PUBLIC_KEY_BYTES:
        raise CredentialError(CredentialReason.BAD_FORMAT, "card public key must be 32 bytes")


def issue_credential(
    signing_key: SigningKey,
    card_id: str,
    uid: bytes,
    issued_on: dt.date,
    card_public_key: bytes | None = None,
) -> bytes:
    """Encode and sign a credential (runs on the hub or an issuing terminal)."""
    _check_fields(card_id, uid, issued_on, card_public_key)
    flags = FLAG_CARD_KEY if card_public_key is not None else 0
    body = bytearray(CREDENTIAL_MAGIC)
    body += bytes([CREDENTIAL_VERSION, flags])
    body += key_id(signing_key.verify_key)
    body += (issued_on - EPOCH).days.to_bytes(2, "big")
    body += bytes([len(uid)]) + uid
    body += bytes([len(card_id)]) + card_id.encode("ascii")
    if card_public_key is not None:
        body += card_public_key
    raw = bytes(body) + signing_key.sign(bytes(body)).signature
    assert CREDENTIAL_BYTES_MIN <= len(raw) <= CREDENTIAL_BYTES_MAX
    # Pair assertion: what we write must read back as what we meant.
    verified = verify_credential(raw, uid, [signing_key.verify_key])
    assert verified.card_id == card_id and verified.card_public_key == card_public_key
    return raw


class _Cursor:
    """Reads fields off the front of a credential; running out is TRUNCATED."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.at = 0

    def take(self, count: int, what: str) -> bytes:
        if self.at + count > len(self.raw):
            raise CredentialError(
                CredentialReason.TRUNCATED, f"{len(self.raw)} bytes end inside the {what}"
            )
        chunk = self.raw[self.at : self.at + count]
        self.at += count
        return chunk


@dataclass(frozen=True, slots=True)
class _Parsed:
    flags: int
    key_id: bytes
    days: int
    uid: bytes
    card_id: str
    card_key: bytes | None
    body: bytes
    signature: bytes


def _parse(raw: bytes) -> _Parsed:
    cur = _Cursor(raw)
    if cur.take(len(CREDENTIAL_MAGIC), "magic") != CREDENTIAL_MAGIC:
        raise CredentialError(CredentialReason.BAD_MAGIC, "not a tapcard credential")
    version = cur.take(1, "version")[0]
    if version != CREDENTIAL_VERSION:
        raise CredentialError(CredentialReason.UNKNOWN_VERSION, f"format version {version}")
    flags = cur.take(1, "flags")[0]
    if flags & ~FLAGS_KNOWN:
        raise CredentialError(CredentialReason.BAD_FORMAT, f"unknown flags 0x{flags:02x}")
    kid = cur.take(KEY_ID_BYTES, "issuer key id")
    days = int.from_bytes(cur.take(2, "issue date"), "big")
    uid_len = cur.take(1, "uid length")[0]
    if not UID_BYTES_MIN <= uid_len <= UID_BYTES_MAX:
        raise CredentialError(CredentialReason.BAD_FORMAT, f"uid length {uid_len}")
    uid = cur.take(uid_len, "uid")
    id_len = cur.take(1, "card id length")[0]
    if not 1 <= id_len <= CARD_ID_CHARS_MAX:
        raise CredentialError(CredentialReason.BAD_FORMAT, f"card id length {id_len}")
    id_raw = cur.take(id_len, "card id")
    if not all(chr(b) in CARD_ID_ALPHABET for b in id_raw):
        raise CredentialError(CredentialReason.BAD_FORMAT, "card id is not plain ASCII")
    card_key = cur.take(PUBLIC_KEY_BYTES, "card key") if flags & FLAG_CARD_KEY else None
    body = raw[: cur.at]
    signature = cur.take(SIGNATURE_BYTES, "signature")
    if cur.at != len(raw):
        raise CredentialError(CredentialReason.BAD_FORMAT, f"{len(raw) - cur.at} trailing bytes")
    return _Parsed(flags, kid, days, uid, id_raw.decode("ascii"), card_key, body, signature)


def verify_credential(
    raw: bytes, uid: bytes, issuer_public_keys: Iterable[VerifyKey]
) -> VerifiedCard:
    """Check a credential read from the card whose chip answered with `uid`.

    Raises CredentialError with the reason; nothing in `raw` is trusted before the
    signature has been checked against one of `issuer_public_keys`.
    """
    if len(raw) > CREDENTIAL_BYTES_MAX:
        raise CredentialError(CredentialReason.BAD_FORMAT, f"{len(raw)} bytes is too long")
    parsed = _parse(raw)
    candidates = [k for k in issuer_public_keys if key_id(k) == parsed.key_id]
    if not candidates:
        raise CredentialError(
            CredentialReason.UNKNOWN_ISSUER, f"issuer key {parsed.key_id.hex()} is not trusted"
        )
    # Key ids are short, so two trusted keys may share one: try each of them.
    if not any(_signature_ok(k, parsed.body, parsed.signature) for k in candidates):
        raise CredentialError(CredentialReason.BAD_SIGNATURE, "issuer signature does not match")
    if not hmac.compare_digest(parsed.uid, uid):
        raise CredentialError(
            CredentialReason.UID_MISMATCH,
            f"issued for chip {parsed.uid.hex()}, read from chip {uid.hex()}",
        )
    return VerifiedCard(
        card_id=parsed.card_id,
        uid=parsed.uid,
        issued_on=EPOCH + dt.timedelta(days=parsed.days),
        version=CREDENTIAL_VERSION,
        issuer_key_id=parsed.key_id,
        card_public_key=parsed.card_key,
    )


def _signature_ok(key: VerifyKey, body: bytes, signature: bytes) -> bool:
    try:
        key.verify(body, signature)
    except BadSignatureError:
        return False
    return True


def challenge_message(challenge: bytes) -> bytes:
    """The exact bytes a card signs when it answers `challenge`."""
    assert len(challenge) == CHALLENGE_BYTES
    return CHALLENGE_CONTEXT + challenge


def verify_challenge_response(card: VerifiedCard, challenge: bytes, response: bytes) -> None:
    """Check a card's answer to `challenge` against the key in its verified credential."""
    if card.card_public_key is None:
        raise CredentialError(CredentialReason.NO_CARD_KEY, "credential carries no card key")
    if len(response) != SIGNATURE_BYTES:
        raise CredentialError(
            CredentialReason.BAD_CHALLENGE_RESPONSE, f"answer has {len(response)} bytes, not 64"
        )
    key = VerifyKey(card.card_public_key)
    if not _signature_ok(key, challenge_message(challenge), response):
        raise CredentialError(
            CredentialReason.BAD_CHALLENGE_RESPONSE, "card did not sign the challenge"
        )


def derive_card_signing_key(master_secret: bytes, card_id: str, uid: bytes) -> SigningKey:
    """A per-card key derived from an issuer-side master (for cards that cannot make one).

    Only the issuer (hub or issuing terminal) holds `master_secret`; devices never need
    it, because they check answers with the public key inside the credential. Cards
    that can generate their key on-chip should do so instead; see docs/card-profile.md.
    """
    assert len(master_secret) >= 32, "master secret must carry at least 256 bits"
    # Length-prefix the card id so that (id, uid) pairs cannot collide by shifting bytes.
    message = CARD_KEY_CONTEXT + bytes([len(card_id)]) + card_id.encode("ascii") + uid
    seed = hmac.new(master_secret, message, hashlib.sha256).digest()
    return SigningKey(seed)


def answer_challenge(card_key: SigningKey, challenge: bytes) -> bytes:
    """What a genuine card computes for INTERNAL AUTHENTICATE (used by sim and emulators)."""
    if len(challenge) != CHALLENGE_BYTES:
        raise CredentialError(CredentialReason.BAD_FORMAT, "challenge must be 16 bytes")
    return bytes(card_key.sign(challenge_message(challenge)).signature)
