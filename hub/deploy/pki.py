"""The hub's own certificate authority for the broker's TLS listener.

Kept in `<data>/pki/` (private keys mode 0600, the folder 0700):

- ca.key, ca.crt: the CA; it signs the broker's server certificate, the hub's client
  certificate and one client certificate per device.
- broker.key, broker.crt: the broker's server certificate (SAN: the names it is reached by).
- hub.key, hub.crt: the hub's client certificate, CN = HUB_IDENTITY (a name no device can
  have: `admin.add_device` refuses "hub").
- devices/<id>.crt: every device certificate issued, so a revoked one can be put on the CRL.
- crl.pem: serials of revoked device certificates, signed by the CA.

Keys are EC P-256: small certificates (the bundle carries them) and fast handshakes on a
Raspberry Pi. The broker reads the identity (CN) as the MQTT user name
(`use_identity_as_username`), and the ACL gives each user its own topics only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tapcard.errors import TapcardError

PKI_DIR: Final = "pki"
HUB_IDENTITY: Final = "hub"  # the hub's CN and broker user name; never a device id
CA_NAME: Final = "tapcard hub CA"
CA_VALID_DAYS: Final = 20 * 365  # outlives the Pis; re-keying the fleet is a project
CERT_VALID_DAYS: Final = 5 * 365  # device, hub and broker certificates
CRL_VALID_DAYS: Final = 365  # `broker-config` re-signs it on every run
CLOCK_SKEW_S: Final = 300  # certificates are valid from a little before now
assert CERT_VALID_DAYS <= CA_VALID_DAYS


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths a TLS client (or the broker) is configured with."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class IssuedCert:
    cert_pem: bytes
    key_pem: bytes
    serial: int


def pki_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / PKI_DIR


def write_file(path: Path, data: bytes, private: bool = False) -> None:
    """Write atomically (temp file, fsync, rename): a power cut leaves old or new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tapcard"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    # Certificates are dated by the machine's clock, not the hub's: OpenSSL in the broker
    # and in paho checks them against the machine's clock.
    return dt.datetime.now(dt.UTC)


class CertificateAuthority:
    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.folder = folder
        self.key = key
        self.cert = cert

    @property
    def ca_path(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def load(cls, data_dir: Path, make: bool = False) -> CertificateAuthority:
        """The hub's CA; made on first use when `make` (the key never leaves the folder)."""
        folder = pki_dir(data_dir)
        key_path, cert_path = folder / "ca.key", folder / "ca.crt"
        if not key_path.exists():
            if not make:
                raise TapcardError(
                    f"{key_path} is missing: run `tapcard hub broker-config` to create the CA"
                )
            return cls._create(folder)
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise TapcardError(f"the hub CA in {folder} cannot be read: {exc}") from None
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(folder, key, cert)

    @classmethod
    def _create(cls, folder: Path) -> CertificateAuthority:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(CA_NAME))
            .issuer_name(_name(CA_NAME))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(seconds=CLOCK_SKEW_S))
            .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        write_file(folder / "ca.key", _key_pem(key), private=True)
        write_file(folder / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
        return cls(folder, key, cert)

    def issue(
        self,
        common_name: str,
        server_names: tuple[str, ...] = (),
        valid_days: int = CERT_VALID_DAYS,
        not_before: dt.datetime | None = None,
    ) -> IssuedCert:
        """A client certificate for `common_name`, or a server one when `server_names`."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or _now() - dt.timedelta(seconds=CLOCK_SKEW_S)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCert(
            cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), cert.serial_number
        )

    def issue_device(self, device_id: str) -> IssuedCert:
        """A device's client certificate (CN = device id), recorded for later revocation."""
        issued = self.issue(device_id)
        write_file(self.folder / "devices" / f"{device_id}.crt", issued.cert_pem)
        return issued

    def ensure_pair(
        self, name: str, common_name: str, server_names: tuple[str, ...] = ()
    ) -> TlsFiles:
        """`<name>.crt` and `<name>.key` in the PKI folder, issued once."""
        files = TlsFiles(self.ca_path, self.folder / f"{name}.crt", self.folder / f"{name}.key")
        if not (files.cert.exists() and files.key.exists()) or not _names_match(
            files.cert, server_names
        ):
            issued = self.issue(common_name, server_names)
            write_file(files.key, issued.key_pem, private=True)
            write_file(files.cert, issued.cert_pem)
        return files

    def write_crl(self, revoked_devices: list[str]) -> Path:
        """crl.pem listing every certificate issued to the revoked devices."""
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(seconds=CLOCK_SKEW_S))
            .next_update(now + dt.timedelta(days=CRL_VALID_DAYS))
        )
        for device_id in sorted(revoked_devices):
            path = self.folder / "devices" / f"{device_id}.crt"
            if not path.exists():
                continue  # provisioned before the broker had TLS: nothing to revoke
            serial = x509.load_pem_x509_certificate(path.read_bytes()).serial_number
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(seconds=CLOCK_SKEW_S))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        path = self.folder / "crl.pem"
        write_file(path, crl.public_bytes(serialization.Encoding.PEM))
        return path


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _names_match(cert_path: Path, server_names: tuple[str, ...]) -> bool:
    """A server certificate is issued again when the broker is reached by other names."""
    if not server_names:
        return True
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(n.value) for n in san}
    return have == {str(_general_name(n).value) for n in server_names}


def hub_client_tls(data_dir: Path) -> TlsFiles:
    """The hub's own client certificate (issued with the CA by `broker-config`)."""
    return CertificateAuthority.load(data_dir).ensure_pair("hub", HUB_IDENTITY)
