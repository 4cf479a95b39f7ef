"""The terminal's offline login cache: who the hub last let in here, and how.

After an online login the terminal keeps, per staff id, the name and role the hub gave,
when, and the credential that was checked: an scrypt digest of the PIN with its own
salt (`offline_pin_digest`: the terminal's own format, unrelated to the hub's PIN hash),
or the staff card's UID. While the hub is unreachable the same person can log in the
same way for LOGIN_CACHE_AGE_S_MAX. Stored in the device's documents as
{staff_id: {name, role, at_ms, pin?, card_uid?}}, as earlier versions wrote it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import Final

import msgspec

from tapcard.device.port import DevicePort

log = logging.getLogger(__name__)

LOGIN_CACHE_AGE_S_MAX: Final = 7 * 24 * 3600  # offline login works this long after online
LOGIN_CACHE_DOC: Final = "staff_logins"
SCRYPT_N: Final = 2**14
PIN_SALT_BYTES: Final = 16


class CachedLogin(msgspec.Struct, omit_defaults=True):
    name: str
    role: str
    at_ms: int
    pin: str = ""  # offline_pin_digest of the PIN the hub last accepted here
    card_uid: str = ""  # the staff card's chip the hub last accepted here


def offline_pin_digest(pin: str, salt: bytes) -> str:
    """`<salt hex>$<scrypt hex>`: what the cache keeps of a PIN."""
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=8, p=1, dklen=32)
    return f"{salt.hex()}${digest.hex()}"


def offline_pin_matches(pin: str, stored: str) -> bool:
    salt, _, _digest = stored.partition("$")
    try:
        return hmac.compare_digest(offline_pin_digest(pin, bytes.fromhex(salt)), stored)
    except ValueError:
        return False


class LoginCache:
    """The cache as read now; `forget` and `remember` write it back at once."""

    def __init__(self, port: DevicePort) -> None:
        self._port = port
        self._entries = _load(port)

    def fresh(self, staff_id: str, now_ms: int) -> CachedLogin | None:
        entry = self._entries.get(staff_id)
        if entry is None or now_ms - entry.at_ms >= LOGIN_CACHE_AGE_S_MAX * 1000:
            return None
        return entry

    def forget(self, staff_id: str) -> None:
        """A refused online login: a changed or revoked credential stops working offline."""
        self._entries.pop(staff_id, None)
        self._save()

    def remember(
        self, staff_id: str, name: str, role: str, at_ms: int, pin: str = "", card_uid: str = ""
    ) -> None:
        """An online yes. The other credential of the entry (PIN or card) is kept."""
        kept = self._entries.get(staff_id)
        self._entries[staff_id] = CachedLogin(
            name=name,
            role=role,
            at_ms=at_ms,
            pin=offline_pin_digest(pin, os.urandom(PIN_SALT_BYTES)) if pin else _pin_of(kept),
            card_uid=card_uid or (kept.card_uid if kept else ""),
        )
        self._save()

    def _save(self) -> None:
        self._port.save_doc(LOGIN_CACHE_DOC, msgspec.to_builtins(self._entries))


def _pin_of(entry: CachedLogin | None) -> str:
    return entry.pin if entry is not None else ""


def _load(port: DevicePort) -> dict[str, CachedLogin]:
    raw = port.load_doc(LOGIN_CACHE_DOC)
    if raw is None:
        return {}
    try:
        return msgspec.convert(raw, type=dict[str, CachedLogin])
    except msgspec.ValidationError as exc:
        log.warning("the offline login cache is unusable (%s): starting it afresh", exc)
        return {}
