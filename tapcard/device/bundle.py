"""The provisioning bundle `tapcard hub device add` writes: who the device is, its
signing key, the hub's and the issuer's public keys and where the broker is.

Optional fields: `tls` (CA, client certificate and key paths; the broker then needs a
client certificate) and `reader` (backend, reader name, sim socket). A bundle that
does not parse, misses a field or holds a key of the wrong size is refused with a
`BundleError` that names the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

import msgspec
from nacl.signing import SigningKey, VerifyKey

from tapcard.errors import TapcardError, ValidationError
from tapcard.readers import Backend, ReaderConfig
from tapcard.wire.keys import signing_key_from_text, verify_key_from_text
from tapcard.wire.topics import is_valid_device_id

BUNDLE_FILE: Final = "bundle.json"
BUNDLE_BYTES_MAX: Final = 16 * 1024
BROKER_PORT_DEFAULT: Final = 1883

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class BundleError(TapcardError):
    """A provisioning bundle that cannot be used; the message says which field."""


class TlsFields(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ca: str
    cert: str = ""
    key: str = ""


class ReaderFields(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    backend: str = "sim"
    reader: str = ""
    sim_socket_path: str = ""


class _BundleFields(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_id: Name
    branch_id: Name
    kind: Name
    device_key: str
    hub_public_key: str
    issuer_public_key: str
    broker: str
    tls: TlsFields | None = None
    reader: ReaderFields | None = None


@dataclass(frozen=True, slots=True)
class Bundle:
    device_id: str
    branch_id: str
    kind: str
    device_key: SigningKey
    hub_key: VerifyKey
    issuer_key: VerifyKey
    broker_host: str
    broker_port: int
    tls: TlsFields | None
    reader: ReaderConfig
    raw: bytes  # the bundle as provisioned, for copying

    @classmethod
    def parse(cls, data: bytes) -> Bundle:
        if len(data) > BUNDLE_BYTES_MAX:
            raise BundleError(f"bundle of {len(data)} bytes is larger than {BUNDLE_BYTES_MAX}")
        try:
            fields = msgspec.json.decode(data, type=_BundleFields)
        except msgspec.ValidationError as exc:
            raise BundleError(f"bundle: {exc}") from None
        except msgspec.DecodeError as exc:
            raise BundleError(f"bundle is not JSON: {exc}") from None
        if not is_valid_device_id(fields.device_id):
            raise BundleError(f"bundle: device_id {fields.device_id!r} is not a device id")
        if fields.kind not in ("kiosk", "terminal"):
            raise BundleError(f"bundle: kind must be kiosk or terminal, not {fields.kind!r}")
        host, port = _broker(fields.broker)
        try:
            device_key = signing_key_from_text(fields.device_key)
            hub_key = verify_key_from_text(fields.hub_public_key)
            issuer_key = verify_key_from_text(fields.issuer_public_key)
        except ValidationError as exc:
            raise BundleError(f"bundle: {exc}") from None
        return cls(
            device_id=fields.device_id,
            branch_id=fields.branch_id,
            kind=fields.kind,
            device_key=device_key,
            hub_key=hub_key,
            issuer_key=issuer_key,
            broker_host=host,
            broker_port=port,
            tls=fields.tls,
            reader=_reader(fields.reader),
            raw=data,
        )

    @classmethod
    def load(cls, path: Path) -> Bundle:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"bundle {path} cannot be read: {exc.strerror}") from None
        return cls.parse(data)


def _broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        host, port = text, str(BROKER_PORT_DEFAULT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BundleError(f"bundle: broker {text!r} is not host:port")
    return host, int(port)


def _reader(fields: ReaderFields | None) -> ReaderConfig:
    if fields is None:
        return ReaderConfig()
    try:
        backend = Backend(fields.backend)
    except ValueError:
        raise BundleError(f"bundle: reader backend {fields.backend!r} is unknown") from None
    return ReaderConfig(
        backend=backend, reader=fields.reader, sim_socket_path=fields.sim_socket_path
    )


def install_bundle(source: Path, data_dir: Path) -> Bundle:
    """Validate a bundle and copy it into the data folder, readable by this user only."""
    from tapcard.device.docstore import write_atomic

    bundle = Bundle.load(source)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(data_dir / BUNDLE_FILE, bundle.raw, mode=0o600)
    assert os.stat(data_dir / BUNDLE_FILE).st_mode & 0o077 == 0
    return bundle
