"""The hub's keys and secrets, kept in its data folder (mode 0600), never in the database.

- hub.key: Ed25519 key that signs everything the hub publishes (rules, deny list,
  results); devices get its public half in their provisioning bundle.
- issuer.key: Ed25519 key that signs card credentials.
- secret.key: 32 random bytes for voucher codes and the keyed hash of ID numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from tapcard.errors import TapcardError
from tapcard.wire.keys import signing_key_from_text, signing_key_text

SECRET_BYTES = 32


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _load_or_make(path: Path, make: bool) -> str:
    if not path.exists():
        if not make:
            raise TapcardError(f"{path} is missing: run `tapcard hub init` first")
        _write_private(path, signing_key_text(SigningKey.generate()))
    return path.read_text().strip()


@dataclass(frozen=True, slots=True)
class HubSecrets:
    hub_key: SigningKey
    issuer_key: SigningKey
    secret: bytes

    @classmethod
    def load(cls, data_dir: Path, make: bool = False) -> HubSecrets:
        keys = data_dir / "keys"
        if make:
            keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        hub_key = signing_key_from_text(_load_or_make(keys / "hub.key", make))
        issuer_key = signing_key_from_text(_load_or_make(keys / "issuer.key", make))
        secret_path = keys / "secret.key"
        if not secret_path.exists() and make:
            _write_private(secret_path, secrets.token_hex(SECRET_BYTES))
        if not secret_path.exists():
            raise TapcardError(f"{secret_path} is missing: run `tapcard hub init` first")
        return cls(hub_key, issuer_key, bytes.fromhex(secret_path.read_text().strip()))

    @property
    def voucher_secret(self) -> bytes:
        return hmac.new(self.secret, b"voucher", hashlib.sha256).digest()

    def id_number_hash(self, id_number: str) -> str:
        normalized = id_number.strip().upper().encode()
        return hmac.new(self.secret, b"id-number\n" + normalized, hashlib.sha256).hexdigest()
