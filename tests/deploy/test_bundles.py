"""Bad provisioning bundles are refused with a message naming the problem.

Scenario: `tapcard hub device add` writes a signed bundle with a TLS certificate; the
device takes it, writes the PEM files beside it (mode 0600) and connects with them. A
bundle that is not JSON, was changed after signing, carries a certificate from another CA,
for another device or already expired is refused; `--require-signed` refuses an unsigned
one, and a device holding a signed bundle refuses one from another hub. A bundle made
for a branch broker names that broker.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from hub.deploy.pki import CertificateAuthority
from hub.deploy.provision import sign_bundle
from launcher.cli import main as tapcard_main
from tapcard.device.bundle import BUNDLE_FILE, Bundle, BundleError, install_bundle
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.deploy.conftest import TlsRig


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _resigned(rig: TlsRig, bundle: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The bundle changed and signed again by the real hub (only the content is wrong)."""
    return sign_bundle({**bundle, **changes}, rig.seeded.hub.secrets.hub_key)


def test_signed_bundle_with_certificate_installs(tls_rig: TlsRig, tmp_path: Path) -> None:
    bundle = tls_rig.add_device("kiosk-2")
    assert bundle["signature"] and bundle["broker"] == f"127.0.0.1:{tls_rig.broker.port}"
    data_dir = tmp_path / "device"
    installed = install_bundle(_write(tmp_path, "b.json", bundle), data_dir, require_signed=True)
    assert installed.tls is not None
    for path in (installed.tls.ca, installed.tls.cert, installed.tls.key):
        assert Path(path).parent == data_dir / "tls"
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert Path(installed.tls.key).read_text() == bundle["tls"]["key_pem"]


def test_bundle_for_a_branch_broker_keeps_its_address(tls_rig: TlsRig, tmp_path: Path) -> None:
    """`device add --connect` names the broker the device reaches (a branch broker on
    its own port); the signed bundle keeps it instead of HQ's TLS listener."""
    bundle = tls_rig.add_device("kiosk-2", connect="shop1-broker.lan:18883")
    assert bundle["broker"] == "shop1-broker.lan:18883"
    installed = install_bundle(
        _write(tmp_path, "b.json", bundle), tmp_path / "d", require_signed=True
    )
    assert (installed.broker_host, installed.broker_port) == ("shop1-broker.lan", 18883)


def test_bundle_for_two_hq_nodes_lists_both(tls_rig: TlsRig, tmp_path: Path) -> None:
    """`device add --connect node-a:8883,node-b:8883`: the signed bundle lists both HQ
    broker nodes, and the device tries them in that order."""
    bundle = tls_rig.add_device("kiosk-2", connect="node-a.hq:8883, node-b.hq:8884")
    assert bundle["broker"] == "node-a.hq:8883,node-b.hq:8884"
    installed = install_bundle(
        _write(tmp_path, "b.json", bundle), tmp_path / "d", require_signed=True
    )
    assert (installed.broker_host, installed.broker_port) == ("node-a.hq", 8883)
    assert installed.broker_fallbacks == (("node-b.hq", 8884),)
    too_many = {**bundle, "broker": ",".join(f"n{i}:8883" for i in range(9))}
    with pytest.raises(BundleError, match="more than 8 broker nodes"):
        install_bundle(_write(tmp_path, "c.json", too_many), tmp_path / "e")


def test_bad_bundles_are_refused(tls_rig: TlsRig, tmp_path: Path) -> None:
    good = tls_rig.add_device("kiosk-2")
    other_ca = CertificateAuthority.load(tmp_path / "other", make=True)
    foreign = other_ca.issue("kiosk-2")
    ours = tls_rig.ca
    old_start = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    expired = ours.issue("kiosk-2", valid_days=2, not_before=old_start)
    someone = ours.issue("kiosk-3")

    def tls_with(issued: Any, ca_pem: bytes | None = None) -> dict[str, str]:
        return {
            "ca_pem": (ca_pem or ours.ca_pem).decode(),
            "cert_pem": issued.cert_pem.decode(),
            "key_pem": issued.key_pem.decode(),
        }

    tampered = {**good, "broker": "evil.example:8883"}  # signature no longer matches
    cases: dict[str, tuple[bytes, str]] = {
        "not json": (b"{device_id: kiosk", "not JSON"),
        "tampered": (json.dumps(tampered).encode(), "signature does not match"),
        "bad signature": (
            json.dumps({**good, "signature": base64.b64encode(b"x" * 64).decode()}).encode(),
            "signature does not match",
        ),
        "wrong CA": (
            json.dumps(_resigned(tls_rig, good, tls=tls_with(foreign))).encode(),
            "not from the bundle's CA",
        ),
        "expired": (
            json.dumps(_resigned(tls_rig, good, tls=tls_with(expired))).encode(),
            "expired",
        ),
        "another device's certificate": (
            json.dumps(_resigned(tls_rig, good, tls=tls_with(someone))).encode(),
            "not 'kiosk-2'",
        ),
        "no CA": (
            json.dumps(_resigned(tls_rig, good, tls={"cert": "c.pem"})).encode(),
            "needs the broker's CA",
        ),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(BundleError, match=message):
            Bundle.parse(data)
        print(f"refused {name}: ok")


def test_unsigned_and_foreign_bundles_at_provision(
    tls_rig: TlsRig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tls_rig.add_device("kiosk-2")
    unsigned = {k: v for k, v in good.items() if k != "signature"}
    data_dir = tmp_path / "device"

    def provision(path: Path, *extra: str) -> int:
        return tapcard_main(["device", "provision", str(path), "--data", str(data_dir), *extra])

    assert provision(_write(tmp_path, "u.json", unsigned), "--require-signed") == 2
    assert "not signed" in capsys.readouterr().err
    assert not (data_dir / BUNDLE_FILE).exists()
    assert provision(_write(tmp_path, "g.json", good), "--require-signed") == 0
    stranger = new_signing_key()  # another hub's key, signing a bundle of its own
    foreign = sign_bundle(
        {**unsigned, "hub_public_key": verify_key_text(stranger.verify_key)}, stranger
    )
    capsys.readouterr()
    assert provision(_write(tmp_path, "f.json", foreign)) == 2
    assert "same hub key" in capsys.readouterr().err
    assert provision(_write(tmp_path, "u2.json", unsigned)) == 2
    assert json.loads((data_dir / BUNDLE_FILE).read_text())["signature"] == good["signature"]
