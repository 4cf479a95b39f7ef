"""Staff PINs as the hub keeps them (scrypt, own salt per PIN) and staff card ids."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Final

from tapcard.domain.model import STAFF_CARD_PREFIX
from tapcard.errors import ValidationError

SCRYPT_N: Final = 2**14  # ~16 MiB and ~50 ms per check: slow for guessing, fine at login
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
PIN_SALT_BYTES: Final = 16
PIN_HASH_BYTES: Final = 32
PIN_DIGITS_MIN: Final = 4
assert PIN_HASH_BYTES >= 32


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The stored form of a PIN: scrypt$n$r$p$salt$hash (hex)."""
    if not (pin.isdigit() and len(pin) >= PIN_DIGITS_MIN):
        raise ValidationError(f"a PIN is at least {PIN_DIGITS_MIN} digits")
    salt = salt or os.urandom(PIN_SALT_BYTES)
    digest = hashlib.scrypt(
        pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=PIN_HASH_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            pin.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def staff_card_id(staff_id: str) -> str:
    return f"{STAFF_CARD_PREFIX}{staff_id}"
