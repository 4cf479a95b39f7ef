"""The member data key: a person's name, phone and address sealed at rest (PIPL).

- keys/member.key in the hub's data folder (0600, never in the database): one key a
  line, `KID HEX` (AES-256-GCM); the last line seals, every line opens, so a rotation
  (`tapcard hub privacy rotate-key`) can re-seal the rows before the old key goes.
- A sealed value is `enc1:KID:` + base64(nonce | ciphertext | tag); the column's name
  is the associated data, so a phone's ciphertext does not open as a name.
- The blind indexes (`phone_index`, `name_index`) are HMACs under a key derived from
  secret.key: they find a member by the exact phone or the exact full name without
  the database holding either. They do not rotate with the data key (a rotation would
  have to rebuild them while searches run); a new secret.key is a re-keying, not this.

The keys are installed once per process (`install`, from `hub.app.Hub`): the columns'
type (`hub.member_schema.Sealed`) seals on write and opens on read, so every reader of
db.members gets plain text without knowing. Keys of every hub opened in the process
stay installed, so two hubs in one process (tests) each open their own rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tapcard.domain.profile import phone_key
from tapcard.errors import TapcardError

PREFIX = "enc1:"
KEY_BYTES = 32
NONCE_BYTES = 12
INDEX_CHARS = 32
KEY_FILE = "member.key"


@dataclass(frozen=True, slots=True)
class MemberKeys:
    keys: tuple[tuple[str, bytes], ...]  # (kid, key), the last one seals
    index_key: bytes

    @property
    def current(self) -> str:
        return self.keys[-1][0]


class _Ring:
    def __init__(self) -> None:
        self.open: dict[str, AESGCM] = {}
        self.seal: tuple[str, AESGCM] | None = None
        self.index_key: bytes | None = None


_RING = _Ring()


def kid_of(key: bytes) -> str:
    """A key's id: from the key itself, so the same key has one id in every file."""
    return hashlib.sha256(b"tapcard member key\n" + key).hexdigest()[:8]


def new_key_line() -> tuple[str, bytes]:
    key = secrets.token_bytes(KEY_BYTES)
    return kid_of(key), key


def key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / KEY_FILE


def write_keys(path: Path, keys: tuple[tuple[str, bytes], ...]) -> None:
    """Replace the key file at once (a temporary file renamed over it, 0600)."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{kid} {key.hex()}\n" for kid, key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load(data_dir: Path, secret: bytes) -> MemberKeys:
    """The hub's member keys; a hub from before the key (its keys folder exists) gets
    one made here, the first time a newer hub opens it."""
    path = key_path(data_dir)
    if not path.exists():
        if not path.parent.is_dir():
            raise TapcardError(f"{path} is missing: run `tapcard hub init` first")
        write_keys(path, (new_key_line(),))
    keys = []
    for line in path.read_text().split("\n"):
        if line.strip():
            kid, text = line.split()
            keys.append((kid, bytes.fromhex(text)))
    if not keys:
        raise TapcardError(f"{path} holds no key")
    index_key = hmac.new(secret, b"member-index", hashlib.sha256).digest()
    return MemberKeys(tuple(keys), index_key)


def install(keys: MemberKeys) -> None:
    for kid, key in keys.keys:
        _RING.open[kid] = AESGCM(key)
    _RING.seal = (keys.current, AESGCM(keys.keys[-1][1]))
    _RING.index_key = keys.index_key


def installed() -> bool:
    return _RING.seal is not None


def current_kid() -> str:
    """The id of the key that seals now (a rotation re-seals what another key sealed)."""
    if _RING.seal is None:
        raise TapcardError("the member data key is not loaded: open the hub first")
    return _RING.seal[0]


def seal(text: str, column: str) -> str:
    """The value as stored. An empty value stays empty: "no address" is no secret,
    and the readers that test for it keep working."""
    if not text:
        return text
    if _RING.seal is None:
        raise TapcardError("the member data key is not loaded: open the hub first")
    kid, aead = _RING.seal
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = aead.encrypt(nonce, text.encode(), column.encode())
    return f"{PREFIX}{kid}:{base64.b64encode(nonce + sealed).decode()}"


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def sealed_kid(value: str) -> str:
    return value[len(PREFIX) :].split(":", 1)[0] if is_sealed(value) else ""


def open_value(value: str, column: str) -> str:
    """The plain value; a value from before the seal (no prefix) is read as it is."""
    if not is_sealed(value):
        return value
    kid, _, body = value[len(PREFIX) :].partition(":")
    aead = _RING.open.get(kid)
    if aead is None:
        raise TapcardError(f"member data sealed with key {kid}, which is not loaded")
    raw = base64.b64decode(body)
    try:
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode()).decode()
    except InvalidTag:
        raise TapcardError(f"member data under key {kid} does not open (tampered?)") from None


def _index(kind: str, normalized: str) -> str:
    if _RING.index_key is None:
        raise TapcardError("the member index key is not loaded: open the hub first")
    message = f"{kind}\n{normalized}".encode()
    return hmac.new(_RING.index_key, message, hashlib.sha256).hexdigest()[:INDEX_CHARS]


def normal_name(name: str) -> str:
    """One spelling of a name: full-width folded (NFKC), case folded, spaces single."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def phone_index(phone: str) -> str:
    """ "" for no phone: nothing to compare (hub/admin/duplicates.py skips it)."""
    normalized = phone_key(phone)
    return _index("phone", normalized) if normalized else ""


def name_index(name: str) -> str | None:
    normalized = normal_name(name)
    return _index("name", normalized) if normalized else None


def indexes(name: str, phone: str) -> dict[str, str | None]:
    """The blind index columns of a member row with this name and phone."""
    return {"phone_index": phone_index(phone) or None, "name_index": name_index(name)}


def sealed_person(name: str, phone: str, address: str) -> dict[str, str | None]:
    """A member row's person columns as stored, for writers that skip the column type
    (the bulk import's driver-level INSERT)."""
    return {
        "name": seal(name, "name"),
        "phone": seal(phone, "phone"),
        "address": seal(address, "address"),
        **indexes(name, phone),
    }
