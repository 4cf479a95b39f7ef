"""The member's dynamic QR code as text: its form, and the signature a device can check.

A code names a card, when it stops being good and a random nonce. Two forms exist:

- `TCM2.<card>.<expires_s>.<nonce>.<sig>`: signed with the issuer's Ed25519 key, the key
  that signs the cards' credentials, so every device checks it with the public key its
  bundle already holds, offline too. The hub makes only this form.
- `TCM1.<card>.<expires_s>.<nonce>.<mac>`: the first form, an HMAC only the hub can
  check. The hub still takes it (a page loaded just before an upgrade shows one for up
  to a minute); a device offline refuses it as not checkable.

Nonce and signature are base64url without padding. A TCM2 code of a 32-character card
id is 147 characters, a QR of version 8 at level M; CODE_CHARS_MAX leaves room.

Whether a code was used is not in its text: the hub records each nonce it takes
(hub/member_qr.py), a device offline records the ones it took (tapcard/device/
member_codes.py), and the hub books a code taken at two places as an exception.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tapcard.domain.model import CARD_ID_RE

PREFIX_MAC: Final = "TCM1"
PREFIX_SIGNED: Final = "TCM2"
PREFIXES: Final = (PREFIX_MAC, PREFIX_SIGNED)
LIFETIME_MS: Final = 60_000
NONCE_BYTES: Final = 8
NONCE_CHARS: Final = 11  # base64url of NONCE_BYTES, no padding
SIGNATURE_BYTES: Final = 64
CODE_CHARS_MAX: Final = 160
# Domain separation: the issuer's key signs card credentials too (they start b"TC\x01"),
# so a code's signature covers this context and can never stand for a credential's.
SIGNING_CONTEXT: Final = b"tapcard/member-code/v2:"
EXPIRES_DIGITS_MAX: Final = 12


@dataclass(frozen=True, slots=True)
class CodeParts:
    """A code's fields as read from its text, nothing checked but their shape."""

    prefix: str
    card_id: str
    expires_ms: int
    nonce: str
    tag: str  # the MAC (TCM1) or the signature (TCM2), base64url
    body: str  # the text the tag covers: everything before the last dot

    @property
    def signed(self) -> bool:
        return self.prefix == PREFIX_SIGNED


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def is_member_code(text: str) -> bool:
    """Whether a scanned line is meant as a member code (its prefix); `parse` says whether
    it is one."""
    return text.strip().startswith(tuple(p + "." for p in PREFIXES))


def parse(text: str) -> CodeParts | None:
    """The code's fields, or None when the text is not in either form."""
    text = text.strip()
    parts = text.split(".")
    if len(text) > CODE_CHARS_MAX or len(parts) != 5 or parts[0] not in PREFIXES:
        return None
    prefix, card_id, expires_s, nonce, tag = parts
    if not CARD_ID_RE.match(card_id) or not expires_s.isdigit() or not nonce or not tag:
        return None
    if len(expires_s) > EXPIRES_DIGITS_MAX:
        return None
    body = text.rsplit(".", 1)[0]
    return CodeParts(prefix, card_id, int(expires_s) * 1000, nonce, tag, body)


def card_of_code(text: str) -> str:
    """The card a member code's text names, "" when the text is not in a code's form."""
    parts = parse(text)
    return "" if parts is None else parts.card_id


def sign(key: SigningKey, card_id: str, now_ms: int, nonce: bytes) -> str:
    """A TCM2 code for the card, good for LIFETIME_MS from `now_ms`."""
    assert CARD_ID_RE.match(card_id) and len(nonce) == NONCE_BYTES
    # Whole seconds in the text, rounded down so the code never lives past its lifetime.
    expires_s = (now_ms + LIFETIME_MS) // 1000
    body = f"{PREFIX_SIGNED}.{card_id}.{expires_s}.{b64(nonce)}"
    text = f"{body}.{b64(key.sign(SIGNING_CONTEXT + body.encode()).signature)}"
    assert len(text) <= CODE_CHARS_MAX
    return text


def signature_holds(parts: CodeParts, keys: Iterable[VerifyKey]) -> bool:
    """Whether a TCM2 code's signature is one of `keys`' over its body (False for TCM1)."""
    if not parts.signed or len(parts.nonce) != NONCE_CHARS:
        return False
    signature = _unb64(parts.tag)
    # Only the canonical text: base64 decoding ignores a last character's spare bits.
    if signature is None or len(signature) != SIGNATURE_BYTES or b64(signature) != parts.tag:
        return False
    for key in keys:
        try:
            key.verify(SIGNING_CONTEXT + parts.body.encode(), signature)
        except BadSignatureError:
            continue
        return True
    return False
