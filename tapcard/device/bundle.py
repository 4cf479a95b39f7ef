"""The provisioning bundle `tapcard hub device add` writes: who the device is, its
signing key, the hub's and the issuer's public keys and where the broker is.

Optional fields: `tls` (CA, client certificate and key paths; the broker then needs a
client certificate) and `reader` (backend, reader name, sim socket). A bundle that
does not parse, misses a field or holds a key of the wrong size is refused with a
`BundleError` that names the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Final

import msgspec
from nacl.signing import SigningKey, VerifyKey

from tapcard.domain.model import DeviceKind
from tapcard.errors import TapcardError, ValidationError
from tapcard.readers import Backend, ReaderConfig
from tapcard.wire.keys import signing_key_from_text, verify_key_from_text
from tapcard.wire.topics import is_valid_device_id

BUNDLE_FILE: Final = "bundle.json"
BUNDLE_KINDS: Final = tuple(kind.value for kind in DeviceKind)  # kiosk, terminal, gate, bay
BUNDLE_BYTES_MAX: Final = 16 * 1024
BROKER_PORT_DEFAULT: Final = 1883
BROKER_NODES_MAX: Final = 8  # addresses in the `broker` field, tried in turn

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class BundleError(TapcardError):
    """A provisioning bundle that cannot be used; the message says which field."""


class TlsFields(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ca: str = ""  # paths (relative to the bundle's folder) ...
    cert: str = ""
    key: str = ""
    ca_pem: str = ""  # ... or the PEM text itself, as `tapcard hub device add` writes it
    cert_pem: str = ""
    key_pem: str = ""


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
    # The device's login on the hub's embedded broker (its user name is device_id).
    broker_password: str = ""
    tls: TlsFields | None = None
    reader: ReaderFields | None = None
    signature: str = ""  # the hub's, over the other fields (see tapcard.device.provisioning)


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
    broker_password: str  # '' when the broker takes no login (TLS certificates instead)
    tls: TlsFields | None
    reader: ReaderConfig
    raw: bytes  # the bundle as provisioned, for copying
    # Further HQ broker nodes, tried in turn after broker_host:broker_port: the `broker`
    # field may list several, "node-a:8883,node-b:8883" (docs/operations.md).
    broker_fallbacks: tuple[tuple[str, int], ...] = ()

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
        if fields.kind not in BUNDLE_KINDS:
            kinds = ", ".join(BUNDLE_KINDS)
            raise BundleError(f"bundle: kind must be one of {kinds}, not {fields.kind!r}")
        nodes = [_broker(text.strip()) for text in fields.broker.split(",")]
        if len(nodes) > BROKER_NODES_MAX:
            raise BundleError(f"bundle: more than {BROKER_NODES_MAX} broker nodes")
        host, port = nodes[0]
        try:
            device_key = signing_key_from_text(fields.device_key)
            hub_key = verify_key_from_text(fields.hub_public_key)
            issuer_key = verify_key_from_text(fields.issuer_public_key)
        except ValidationError as exc:
            raise BundleError(f"bundle: {exc}") from None
        check_bundle(data, fields.device_id, hub_key, fields.tls)
        return cls(
            device_id=fields.device_id,
            branch_id=fields.branch_id,
            kind=fields.kind,
            device_key=device_key,
            hub_key=hub_key,
            issuer_key=issuer_key,
            broker_host=host,
            broker_port=port,
            broker_password=fields.broker_password,
            tls=fields.tls,
            reader=_reader(fields.reader),
            raw=data,
            broker_fallbacks=tuple(nodes[1:]),
        )

    @classmethod
    def load(cls, path: Path) -> Bundle:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"bundle {path} cannot be read: {exc.strerror}") from None
        bundle = cls.parse(data)
        return replace(bundle, tls=tls_files(bundle.tls, path.parent))


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


def install_bundle(source: Path, data_dir: Path, require_signed: bool = False) -> Bundle:
    """Validate a bundle and copy it into the data folder, readable by this user only."""
    from tapcard.device.docstore import write_atomic

    try:
        bundle = Bundle.parse(source.read_bytes())
    except OSError as exc:
        raise BundleError(f"bundle {source} cannot be read: {exc.strerror}") from None
    check_reprovision(bundle, data_dir / BUNDLE_FILE, require_signed)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(data_dir / BUNDLE_FILE, bundle.raw, mode=0o600)
    assert os.stat(data_dir / BUNDLE_FILE).st_mode & 0o077 == 0
    return Bundle.load(data_dir / BUNDLE_FILE)  # writes the TLS files beside it


# --- signed bundles and their TLS material ------------------------------------------------
#
# `tapcard hub device add` signs the bundle with the hub's key: Ed25519 over the canonical
# JSON of every other field (keys sorted, no spaces, ASCII), base64 in `signature`. A
# device that already holds a signed bundle takes a new one only from the same hub key,
# so a stray file cannot re-point a kiosk at another broker. The TLS client certificate
# must be issued to this device (CN = device id) by the CA in the bundle, and be valid now.

TLS_DIR: Final = "tls"
CERT_SKEW_S: Final = 300  # a Pi's clock before NTP sync may lag by this much


def canonical_bundle_bytes(data: dict[str, object]) -> bytes:
    import json

    unsigned = {k: v for k, v in data.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def check_bundle(data: bytes, device_id: str, hub_key: VerifyKey, tls: TlsFields | None) -> None:
    """The signature (when there is one) and the TLS certificate (when in PEM)."""
    import base64
    import json

    from nacl.exceptions import BadSignatureError

    loose = json.loads(data)
    signature = loose.get("signature", "")
    if signature:
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            hub_key.verify(canonical_bundle_bytes(loose), raw_signature)
        except (BadSignatureError, ValueError):
            raise BundleError("bundle: the hub's signature does not match its contents") from None
    if tls is not None:
        if not (tls.ca or tls.ca_pem):
            raise BundleError("bundle: tls needs the broker's CA (ca or ca_pem)")
        if tls.cert_pem:
            _check_certificate(tls, device_id)


def _check_certificate(tls: TlsFields, device_id: str) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import NameOID

    try:
        ca = x509.load_pem_x509_certificate(tls.ca_pem.encode())
        cert = x509.load_pem_x509_certificate(tls.cert_pem.encode())
    except ValueError as exc:
        raise BundleError(f"bundle: tls certificate is not PEM: {exc}") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise BundleError("bundle: the device certificate is not from the bundle's CA") from None
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [device_id]:
        raise BundleError(f"bundle: the certificate is for {names}, not {device_id!r}")
    # The broker's OpenSSL checks certificates against the machine's clock, so do we.
    now = dt.datetime.now(dt.UTC)
    skew = dt.timedelta(seconds=CERT_SKEW_S)
    if cert.not_valid_after_utc < now or ca.not_valid_after_utc < now:
        raise BundleError(
            f"bundle: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "provision the device again (`tapcard hub device add`)"
        )
    if cert.not_valid_before_utc > now + skew:
        raise BundleError("bundle: the certificate is not valid yet (is the clock right?)")


def tls_files(tls: TlsFields | None, folder: Path) -> TlsFields | None:
    """TLS paths for the MQTT client: PEM text is written to `folder/tls/` (mode 0600)
    once, and relative paths are taken from the bundle's folder."""
    from tapcard.device.docstore import write_atomic

    if tls is None:
        return None
    paths: dict[str, str] = {}
    for name, path, pem in (
        ("ca", tls.ca, tls.ca_pem),
        ("cert", tls.cert, tls.cert_pem),
        ("key", tls.key, tls.key_pem),
    ):
        if pem:
            target = folder / TLS_DIR / f"{name}.pem"
            if not target.exists() or target.read_text() != pem:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                write_atomic(target, pem.encode(), mode=0o600)
            paths[name] = str(target)
        elif path:
            paths[name] = str(folder / path) if not os.path.isabs(path) else path
        else:
            paths[name] = ""
    return TlsFields(ca=paths["ca"], cert=paths["cert"], key=paths["key"])


def check_reprovision(bundle: Bundle, installed: Path, require_signed: bool) -> None:
    """Refuse an unsigned bundle when asked to, and a bundle from another hub (or an
    unsigned one) over a signed bundle already installed."""
    import json

    signed = bool(json.loads(bundle.raw).get("signature"))
    if require_signed and not signed:
        raise BundleError("bundle: it is not signed by the hub (`tapcard hub device add` signs)")
    try:
        current = json.loads(installed.read_bytes())
    except (OSError, ValueError):
        return  # nothing (readable) installed yet
    if not current.get("signature"):
        return
    if not signed or current.get("hub_public_key") != json.loads(bundle.raw)["hub_public_key"]:
        raise BundleError(
            "bundle: this device holds a bundle signed by its hub; a new one must be signed "
            "by the same hub key (remove the data folder to provision it afresh)"
        )
