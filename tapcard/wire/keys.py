"""Ed25519 key text forms: base64 of the raw 32 bytes."""

from __future__ import annotations

import base64
import binascii

from nacl.signing import SigningKey, VerifyKey

from tapcard.errors import ValidationError

KEY_BYTES = 32


def new_signing_key() -> SigningKey:
    return SigningKey.generate()


def signing_key_text(key: SigningKey) -> str:
    return base64.b64encode(bytes(key)).decode()


def verify_key_text(key: VerifyKey) -> str:
    return base64.b64encode(bytes(key)).decode()


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{what} is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ValidationError(f"{what} must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def signing_key_from_text(text: str) -> SigningKey:
    return SigningKey(_raw(text, "signing key"))


def verify_key_from_text(text: str) -> VerifyKey:
    return VerifyKey(_raw(text, "public key"))
