"""What `tapcard hub device add / revoke` do for the field: a TLS client certificate and
the hub's signature in the bundle, and the broker's ACL and CRL rewritten from the
registry (when this hub runs a CA, i.e. `tapcard hub broker-config` has been run)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Final

import msgspec
from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from hub.config import BrokerAddress
from hub.deploy.broker_config import (
    BrokerFiles,
    ListenerSettings,
    write_hq_config,
)
from hub.deploy.pki import CertificateAuthority, pki_dir, write_file

SETTINGS_FILE: Final = "broker-config.json"  # in the PKI folder: how broker-config ran
EMBEDDED_BROKER_DIR: Final = "broker"  # in the hub's data folder (hub/cli/server.py)
RELOAD_HINT: Final = "reload the broker to apply it: `systemctl reload tapcard-broker`"


class _Saved(msgspec.Struct, frozen=True):
    out_dir: str
    port: int
    bind: str
    names: list[str]
    run_as_root: bool = False


def save_settings(data_dir: Path, settings: ListenerSettings) -> None:
    saved = _Saved(
        str(settings.out_dir.resolve()),
        settings.port,
        settings.bind,
        list(settings.names),
        settings.run_as_root,
    )
    write_file(pki_dir(data_dir) / SETTINGS_FILE, msgspec.json.encode(saved))


def load_settings(data_dir: Path) -> ListenerSettings | None:
    path = pki_dir(data_dir) / SETTINGS_FILE
    if not path.exists():
        return None
    saved = msgspec.json.decode(path.read_bytes(), type=_Saved)
    return ListenerSettings(
        Path(saved.out_dir), saved.port, saved.bind, tuple(saved.names), saved.run_as_root
    )


def canonical_bundle_bytes(bundle: dict[str, Any]) -> bytes:
    """What the hub signs; tapcard.device.bundle.canonical_bundle_bytes is the same."""
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign_bundle(bundle: dict[str, Any], hub_key: SigningKey) -> dict[str, Any]:
    signature = hub_key.sign(canonical_bundle_bytes(bundle)).signature
    return {**bundle, "signature": base64.b64encode(signature).decode()}


def finish_bundle(
    bundle: dict[str, Any],
    engine: Engine,
    data_dir: Path,
    hub_key: SigningKey,
    broker_given: bool = False,
) -> tuple[dict[str, Any], BrokerFiles | None]:
    """When the hub runs a CA: add the device's TLS certificate, point the bundle at the
    TLS listener (unless `broker_given`: the operator named the broker the device
    reaches, a branch broker on its own port), rewrite the broker's ACL with the new
    device, and sign."""
    settings = load_settings(data_dir)
    files = None
    if settings is not None:
        ca = CertificateAuthority.load(data_dir)
        issued = ca.issue_device(str(bundle["device_id"]))
        nodes = [BrokerAddress.parse(node) for node in str(bundle["broker"]).split(",")]
        if not broker_given:
            nodes = [BrokerAddress(node.host, settings.port) for node in nodes]
        bundle = {
            **bundle,
            "broker": ",".join(str(node) for node in nodes),
            "tls": {
                "ca_pem": ca.ca_pem.decode(),
                "cert_pem": issued.cert_pem.decode(),
                "key_pem": issued.key_pem.decode(),
            },
        }
        files = write_hq_config(engine, data_dir, settings)
        # Signed where the hub runs a CA (field deployments). Signing every bundle is one
        # line here, once tests/hub/test_cli.py expects the `signature` field.
        bundle = sign_bundle(bundle, hub_key)
    return bundle, files


def embedded_login(bundle: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """Without a CA (the embedded broker, hub.broker): the device's login on it, derived
    from the hub's secret for that broker; the running broker admits the device once
    it follows the registry (within hub.broker.REGISTRY_FOLLOW_S)."""
    if load_settings(data_dir) is not None:
        return bundle  # TLS: the certificate is the login
    from hub.broker import device_password

    password = device_password(data_dir / EMBEDDED_BROKER_DIR, str(bundle["device_id"]))
    return {**bundle, "broker_password": password}


def refresh_broker(engine: Engine, data_dir: Path) -> BrokerFiles | None:
    """ACL and CRL from the registry again (after a revoke); None without a CA."""
    settings = load_settings(data_dir)
    if settings is None:
        return None
    return write_hq_config(engine, data_dir, settings)
