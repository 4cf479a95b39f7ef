"""Ed25519 key text forms (base64 of the raw 32 bytes), and PINs sealed to the hub."""

from __future__ import annotations

import base64
import binascii

import msgspec
from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from nacl.signing import SigningKey, VerifyKey

from tapcard.errors import ValidationError
from tapcard.wire.staff_messages import PinSeal

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


# --- PINs sealed to the hub -------------------------------------------------------------
# A terminal seals a PIN to the hub's Curve25519 key, derived from the Ed25519 key every
# device already has in its bundle, so provisioning is unchanged. A SealedBox is
# anonymous (a fresh ephemeral key per box): only the hub can open it, and the PinSeal
# inside names the hub's one-time challenge, the device and the staff id, so a captured
# box is useless on another request and after its challenge is used or expired.


def seal_pin(hub_key: VerifyKey, pin_seal: PinSeal) -> str:
    box = SealedBox(hub_key.to_curve25519_public_key())
    return base64.b64encode(box.encrypt(msgspec.json.encode(pin_seal))).decode()


def open_pin(hub_key: SigningKey, sealed: str) -> PinSeal:
    """The PinSeal inside `sealed`; ValidationError when it is not one sealed to us."""
    try:
        box = SealedBox(hub_key.to_curve25519_private_key())
        plain = box.decrypt(base64.b64decode(sealed, validate=True))
        return msgspec.json.decode(plain, type=PinSeal)
    except (binascii.Error, ValueError, CryptoError, msgspec.DecodeError):
        raise ValidationError("the sealed PIN cannot be opened") from None
