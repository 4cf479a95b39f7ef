"""Mosquitto configuration written from the device registry (`tapcard hub broker-config`).

HQ broker (`write_hq_config`): one TLS listener; every client shows a certificate from the
hub's CA (`require_certificate`), its CN becomes its MQTT user name
(`use_identity_as_username`), and the ACL file gives
- the hub (`HUB_IDENTITY`): everything under `tapcard/`;
- each active device: publish on its own tx, status, health and query topics; read its
  own result and reply topics and the retained rules and deny list; nothing else;
- each branch broker's bridge (`branch.<id>`): the same for every active device of its
  branch, which the bridge carries both ways.
A revoked device gets no ACL entry (and its certificate goes on the CRL), so the broker
refuses its publishes and subscriptions, and the hub refuses its messages anyway.

Branch broker (`write_branch_config`): the same listener and ACL for the branch's own
devices, plus a bridge to HQ (TLS with the branch's client certificate, QoS 1,
cleansession false, local persistence), so devices keep a broker when the uplink is down.
The bridge is two connections (see `bridge_lines`): MQTT 3.1.1 for what must not be lost,
MQTT 5 for request/response, which needs its properties.

Mosquitto re-reads the ACL file on SIGHUP (`systemctl reload tapcard-broker`); the CRL and
certificates are read when the listener starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub import db
from hub.config import BrokerAddress
from hub.deploy.pki import HUB_IDENTITY, CertificateAuthority, TlsFiles, write_file
from tapcard.errors import ValidationError
from tapcard.wire.messages import PACKET_BYTES_MAX
from tapcard.wire.topics import (
    DENYLIST_TOPIC,
    PREFIX,
    PRODUCTS_TOPIC,
    RULES_TOPIC,
    Family,
    is_valid_device_id,
    scoped_rules_topics,
)

CONFIG_FILE: Final = "mosquitto.conf"
ACL_FILE: Final = "acl"
TLS_PORT_DEFAULT: Final = 8883
AUTOSAVE_INTERVAL_S: Final = 60  # plus on every clean shutdown; QoS 1 resends cover a crash
QUEUED_MESSAGES_MAX: Final = 100_000  # per offline client: a device's results while away
BRIDGE_KEEPALIVE_S: Final = 30
BRIDGE_RESTART_S: Final = 5  # reconnect the uplink this soon after it drops
BRANCH_PREFIX: Final = "branch."  # bridge identities; "." never occurs in a device id
# A branch broker's MQTT 5 bridge advertises max_inflight_messages as its Receive Maximum,
# and HQ refuses the bridge (protocol error) for 0, mosquitto's "no limit", and, with
# mosquitto 2.0.11, for 65535 too. Devices keep at most this many in flight themselves.
BRANCH_INFLIGHT_MAX: Final = 1_000
# Request/response families need MQTT 5 properties (response topic, correlation data), so
# they cross on an MQTT 5 bridge connection. Everything else crosses on an MQTT 3.1.1 one:
# mosquitto's MQTT 5 bridge sends no session expiry, so with it HQ would drop the branch's
# session (and the results queued in it) whenever the uplink goes down; with 3.1.1,
# cleansession false keeps that session for good.
REQUEST_FAMILIES: Final = frozenset({Family.QUERY, Family.REPLY, Family.STAFF, Family.STAFF_REPLY})
DEVICE_WRITES: Final = (Family.TX, Family.STATUS, Family.HEALTH, Family.QUERY, Family.STAFF)
DEVICE_READS: Final = (
    Family.RESULT,
    Family.REPLY,
    Family.STAFF_REPLY,
    Family.CONTROL,
    Family.BAY,
)


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    config: Path
    acl: Path
    tls: TlsFiles
    crl: Path
    devices: tuple[str, ...]  # active devices in the ACL
    revoked: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    out_dir: Path
    port: int = TLS_PORT_DEFAULT
    bind: str = "0.0.0.0"  # noqa: S104 (devices reach the broker over the LAN)
    names: tuple[str, ...] = ("localhost", "127.0.0.1")  # in the server certificate
    run_as_root: bool = False  # tests only: mosquitto started as root keeps root


def branch_identity(branch_id: str) -> str:
    if not is_valid_device_id(branch_id):
        raise ValidationError(f"branch id {branch_id!r} cannot name a bridge identity")
    return BRANCH_PREFIX + branch_id


def _devices(engine: Engine, branch_id: str | None = None) -> tuple[dict[str, str], list[str]]:
    """(active device -> branch, revoked devices) from the registry."""
    query = sa.select(db.devices.c.id, db.devices.c.branch_id, db.devices.c.state)
    if branch_id is not None:
        query = query.where(db.devices.c.branch_id == branch_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(db.devices.c.id)).all()
    active = {r.id: r.branch_id for r in rows if r.state == "active"}
    revoked = [r.id for r in rows if r.state != "active"]
    for device_id in active:
        assert is_valid_device_id(device_id), device_id  # ACL lines are built from it
    return active, revoked


def registry_devices(engine: Engine) -> dict[str, str]:
    """Active device -> branch, from the registry (the embedded broker's logins too)."""
    return _devices(engine)[0]


def device_rules(device_id: str) -> list[str]:
    """The ACL lines of one device: its own topics, and the retained config."""
    base = f"{PREFIX}/dev/{device_id}"
    lines = [f"topic write {base}/{f.value}" for f in DEVICE_WRITES]
    lines += [f"topic read {base}/{f.value}" for f in DEVICE_READS]
    return lines


def _own_rules_topics(branch_id: str, device_id: str) -> tuple[str, ...]:
    """A device reads its branch's effective rules and its own, nobody else's."""
    return scoped_rules_topics(branch_id, device_id) if is_valid_device_id(branch_id) else ()


def acl_text(active: dict[str, str], with_hub: bool) -> str:
    """The ACL file: the hub, every active device, and a bridge identity per branch."""
    lines = [
        "# Written by `tapcard hub broker-config` from the device registry; do not edit.",
        "# No topic line before the first user line: anonymous clients get nothing.",
    ]
    if with_hub:
        lines += ["", f"user {HUB_IDENTITY}", f"topic readwrite {PREFIX.split('/')[0]}/#"]
    for device_id in sorted(active):
        lines += ["", f"user {device_id}", *device_rules(device_id)]
        lines += [f"topic read {t}" for t in (RULES_TOPIC, DENYLIST_TOPIC, PRODUCTS_TOPIC)]
        lines += [f"topic read {t}" for t in _own_rules_topics(active[device_id], device_id)]
    if with_hub:
        for branch in sorted(set(active.values())):
            if not is_valid_device_id(branch):
                continue  # such a branch cannot run a bridge (see branch_identity)
            lines += ["", f"user {branch_identity(branch)}"]
            lines += [f"topic read {t}" for t in (RULES_TOPIC, DENYLIST_TOPIC, PRODUCTS_TOPIC)]
            for device_id in sorted(d for d, b in active.items() if b == branch):
                lines += device_rules(device_id)
                lines += [f"topic read {t}" for t in _own_rules_topics(branch, device_id)]
    return "\n".join(lines) + "\n"


def _listener_lines(
    settings: ListenerSettings, tls: TlsFiles, crl: Path, acl: Path, inflight_max: int = 0
) -> list[str]:
    persistence = settings.out_dir / "db"
    persistence.mkdir(parents=True, exist_ok=True)
    return [
        "# Written by `tapcard hub broker-config`; run it again after changing devices.",
        "per_listener_settings false",
        *(["user root"] if settings.run_as_root else []),
        "allow_anonymous false",
        f"listener {settings.port} {settings.bind}",
        f"cafile {tls.ca}",
        f"certfile {tls.cert}",
        f"keyfile {tls.key}",
        f"crlfile {crl}",
        "tls_version tlsv1.2",
        "require_certificate true",
        "use_identity_as_username true",
        f"acl_file {acl}",
        "persistence true",
        f"persistence_location {persistence}/",
        f"autosave_interval {AUTOSAVE_INTERVAL_S}",
        f"max_queued_messages {QUEUED_MESSAGES_MAX}",
        f"max_inflight_messages {inflight_max}",
        f"max_packet_size {PACKET_BYTES_MAX}",
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]


def write_hq_config(engine: Engine, data_dir: Path, settings: ListenerSettings) -> BrokerFiles:
    """The HQ broker's config, ACL, server certificate and CRL, in settings.out_dir."""
    ca = CertificateAuthority.load(data_dir, make=True)
    ca.ensure_pair("hub", HUB_IDENTITY)
    tls = ca.ensure_pair("broker", "tapcard broker", settings.names)
    active, revoked = _devices(engine)
    crl = ca.write_crl(revoked)
    acl = settings.out_dir / ACL_FILE
    write_file(acl, acl_text(active, with_hub=True).encode())
    config = settings.out_dir / CONFIG_FILE
    write_file(config, ("\n".join(_listener_lines(settings, tls, crl, acl)) + "\n").encode())
    return BrokerFiles(config, acl, tls, crl, tuple(sorted(active)), tuple(revoked))


def write_branch_config(
    engine: Engine, data_dir: Path, settings: ListenerSettings, branch_id: str, hq: BrokerAddress
) -> BrokerFiles:
    """A branch broker: its own TLS listener and ACL for the branch's devices, and a bridge
    to the HQ broker. Everything it needs is copied into settings.out_dir."""
    ca = CertificateAuthority.load(data_dir, make=True)
    out = settings.out_dir
    identity = branch_identity(branch_id)
    server = ca.issue("tapcard broker " + branch_id, settings.names)
    bridge = ca.issue(identity)
    tls = TlsFiles(out / "ca.crt", out / "broker.crt", out / "broker.key")
    write_file(tls.ca, ca.ca_pem)
    write_file(tls.cert, server.cert_pem)
    write_file(tls.key, server.key_pem, private=True)
    write_file(out / "bridge.crt", bridge.cert_pem)
    write_file(out / "bridge.key", bridge.key_pem, private=True)
    active, revoked = _devices(engine, branch_id)
    crl_source = ca.write_crl(_devices(engine)[1])
    crl = out / "crl.pem"
    write_file(crl, crl_source.read_bytes())
    acl = out / ACL_FILE
    write_file(acl, acl_text(active, with_hub=False).encode())
    lines = _listener_lines(settings, tls, crl, acl, inflight_max=BRANCH_INFLIGHT_MAX)
    lines += bridge_lines(branch_id, sorted(active), hq, out)
    config = out / CONFIG_FILE
    write_file(config, ("\n".join(lines) + "\n").encode())
    return BrokerFiles(config, acl, tls, crl, tuple(sorted(active)), tuple(revoked))


def bridge_lines(branch_id: str, devices: list[str], hq: BrokerAddress, out: Path) -> list[str]:
    """Two mosquitto bridge connections to HQ, TLS with the branch's certificate, QoS 1.

    - `tapcard-hq-<branch>` (MQTT 3.1.1, cleansession false both sides): each device's tx,
      status and health out; its results and control messages, the rules and the deny
      list in. HQ keeps the branch's queue while the uplink is down, the branch keeps
      HQ's (local persistence), so nothing is dropped on either side.
    - `tapcard-hq-<branch>-rpc` (MQTT 5, clean sessions): snapshot queries and staff
      requests out, their replies in, with the properties they need. A request cut off
      by the uplink times out at the device, which then decides offline.
    """
    families = [*((f, "out") for f in DEVICE_WRITES), *((f, "in") for f in DEVICE_READS)]
    reliable = [
        *_bridge_connection(branch_id, "", "mqttv311", persistent=True, hq=hq, out=out),
        f"topic {RULES_TOPIC} in 1",
        f"topic {DENYLIST_TOPIC} in 1",
        f"topic {PRODUCTS_TOPIC} in 1",
        *(f"topic {t} in 1" for d in devices for t in _own_rules_topics(branch_id, d)),
    ]
    requests = _bridge_connection(branch_id, "-rpc", "mqttv50", persistent=False, hq=hq, out=out)
    for device_id in devices:
        base = f"{PREFIX}/dev/{device_id}"
        for family, direction in families:
            line = f"topic {base}/{family.value} {direction} 1"
            (requests if family in REQUEST_FAMILIES else reliable).append(line)
    return reliable + requests


def _bridge_connection(
    branch_id: str, suffix: str, protocol: str, persistent: bool, hq: BrokerAddress, out: Path
) -> list[str]:
    clean = "false" if persistent else "true"
    return [
        "",
        f"connection tapcard-hq-{branch_id}{suffix}",
        f"address {hq.host}:{hq.port}",
        f"bridge_protocol_version {protocol}",
        f"bridge_cafile {out / 'ca.crt'}",
        f"bridge_certfile {out / 'bridge.crt'}",
        f"bridge_keyfile {out / 'bridge.key'}",
        "bridge_insecure false",
        f"remote_clientid tapcard-bridge-{branch_id}{suffix}",
        f"cleansession {clean}",  # false: HQ keeps the branch's queue while it is away
        f"local_cleansession {clean}",  # false: so does the branch broker (persistence)
        "try_private true",
        "notifications false",
        f"keepalive_interval {BRIDGE_KEEPALIVE_S}",
        "restart_timeout 1 " + str(BRIDGE_RESTART_S),
        "start_type automatic",
    ]


def run_as_root_default() -> bool:
    """mosquitto started as root drops to user mosquitto unless told; in tests and in a
    container we keep root so it can read our files."""
    return os.geteuid() == 0 and os.environ.get("TAPCARD_BROKER_USER_ROOT") == "1"
