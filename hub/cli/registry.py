"""`tapcard hub branch | device`: branches and the devices registered at them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import sqlalchemy as sa

from hub import bays, db
from hub.admin.devices import DEVICE_KINDS, add_branch, add_device, revoke_device
from hub.cli.common import actor_of, add_command, open_hub, print_data
from hub.config import BrokerAddress
from hub.gate_keys import make_key, revoke_key
from hub.gates import VOUCHER_DEVICE_KINDS as GATE_KINDS
from tapcard.errors import ValidationError
from tapcard.wire.keys import new_signing_key, signing_key_text, verify_key_text


def cmd_branch_add(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        add_branch(conn, args.id, args.name, args.chain, actor_of(args))
    print(f"branch {args.id} added")
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    key = new_signing_key()
    with hub.transaction() as conn:
        add_device(
            conn, args.id, args.branch, args.kind, verify_key_text(key.verify_key), actor_of(args)
        )
        http_key = make_key(conn, args.id, actor_of(args)) if args.kind in GATE_KINDS else ""
    if http_key:  # shown once: only its hash is kept (hub/gate_keys.py)
        print(f"HTTP key of {args.id} (shown once): {http_key}", file=sys.stderr)
    broker = args.connect or args.broker or os.environ.get("TAPCARD_BROKER") or "127.0.0.1:1883"
    bundle = {
        "device_id": args.id,
        "branch_id": args.branch,
        "kind": args.kind,
        "device_key": signing_key_text(key),
        "hub_public_key": verify_key_text(hub.secrets.hub_key.verify_key),
        "issuer_public_key": verify_key_text(hub.secrets.issuer_key.verify_key),
        # One node, or several tried in turn ("node-a:8883,node-b:8883").
        "broker": ",".join(str(BrokerAddress.parse(node.strip())) for node in broker.split(",")),
    }
    from hub.deploy.provision import RELOAD_HINT, embedded_login, finish_bundle

    if hub.config.broker is None:  # the hub runs its own broker: the device's login on it
        bundle = embedded_login(bundle, hub.config.data_dir)
    bundle, acl = finish_bundle(  # deploy: TLS certificate, signature
        bundle, hub.engine, hub.config.data_dir, hub.secrets.hub_key, args.connect is not None
    )
    if acl is not None:
        print(f"broker ACL {acl.acl} now admits {args.id}; {RELOAD_HINT}", file=sys.stderr)
    text = json.dumps(bundle, indent=2)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        print(f"device {args.id} added; provisioning bundle written to {args.out}")
    else:
        print(text)
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(
                    db.devices.c.id,
                    db.devices.c.branch_id,
                    db.devices.c.kind,
                    db.devices.c.state,
                    db.devices.c.online,
                    db.devices.c.last_seen_ms,
                    db.devices.c.software_version,
                    db.devices.c.rules_version,
                    db.devices.c.seq_max,
                ).order_by(db.devices.c.id)
            )
        ]
    print_data(args, rows)
    return 0


def cmd_device_revoke(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        revoke_device(conn, args.id, actor_of(args))
    print(f"device {args.id} revoked")
    from hub.deploy.provision import RELOAD_HINT, refresh_broker  # deploy: ACL and CRL

    if refresh_broker(hub.engine, hub.config.data_dir) is not None:
        print(f"removed from the broker ACL and put on the CRL; {RELOAD_HINT}")
    return 0


def cmd_device_login(args: argparse.Namespace) -> int:
    """A device's password on the hub's own broker: for a bundle from before the logins
    (put it in as `broker_password`); the broker admits the device while it is active."""
    from hub.broker import device_password
    from hub.deploy.provision import EMBEDDED_BROKER_DIR

    hub = open_hub(args)
    with hub.engine.connect() as conn:
        state = conn.execute(
            sa.select(db.devices.c.state).where(db.devices.c.id == args.id)
        ).scalar()
    if state != "active":
        raise ValidationError(f"device {args.id} is {state or 'not registered'}")
    print(device_password(hub.config.data_dir / EMBEDDED_BROKER_DIR, args.id))
    return 0


def cmd_device_http_key(args: argparse.Namespace) -> int:
    """A gate's or a bay's HTTP key (hub/gates_http.py): a new one (the old one stops
    working), or revoked."""
    hub = open_hub(args)
    with hub.transaction() as conn:
        if args.revoke:
            revoke_key(conn, args.id, actor_of(args))
            print(f"HTTP key of {args.id} revoked")
        else:
            print(make_key(conn, args.id, actor_of(args)))
    return 0


def cmd_device_pair_bay(args: argparse.Namespace) -> int:
    """Pair a kiosk with a wash bay (hub/bays.py): the hub starts the bay when the kiosk
    sells a wash; with --off, the pairing ends."""
    hub = open_hub(args)
    with hub.transaction() as conn:
        if args.off:
            gone = bays.unpair(conn, args.kiosk, actor_of(args))
            print(f"kiosk {args.kiosk} {'unpaired' if gone else 'was not paired'}")
            return 0
        if not args.bay:
            raise ValidationError("name the wash bay (or --off)")
        done = bays.pair(conn, args.kiosk, args.bay, args.label, actor_of(args))
    print(f"kiosk {done.kiosk} starts wash bay {done.bay} (shown as bay {done.label})")
    return 0


def cmd_device_bays(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = [{"kiosk": p.kiosk, "bay": p.bay, "label": p.label} for p in bays.pairings(conn)]
    print_data(args, rows, ["kiosk", "bay", "label"])
    return 0


def register(cmds: Any) -> None:
    branch = cmds.add_parser("branch", help="branches").add_subparsers(
        dest="branch_cmd", required=True
    )
    add = add_command(branch, "add", cmd_branch_add, "add a branch")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument("--chain", default="default")
    device = cmds.add_parser("device", help="devices").add_subparsers(
        dest="device_cmd", required=True
    )
    add = add_command(
        device, "add", cmd_device_add, "register a device and write its provisioning bundle"
    )
    add.add_argument("id")
    add.add_argument("--branch", required=True)
    add.add_argument("--kind", choices=list(DEVICE_KINDS), required=True)
    add.add_argument("--out", help="write the bundle here (mode 0600) instead of printing it")
    add.add_argument(
        "--connect",
        metavar="HOST:PORT",
        help="the broker the device connects to, as it reaches it (a branch broker, say; "
        "several HQ nodes, tried in turn: HOST:PORT,HOST:PORT); "
        "default: the hub's broker, on the TLS listener when the hub runs a CA",
    )
    add_command(device, "list", cmd_device_list, "list devices", read=True)
    revoke = add_command(
        device, "revoke", cmd_device_revoke, "revoke a device: its messages are refused"
    )
    revoke.add_argument("id")
    login = add_command(
        device, "broker-login", cmd_device_login, "print a device's password on the hub's broker"
    )
    login.add_argument("id")
    http_key = add_command(
        device, "http-key", cmd_device_http_key, "rotate (print a new) or revoke a gate's HTTP key"
    )
    http_key.add_argument("id")
    http_key.add_argument("--revoke", action="store_true", help="revoke it, make no new one")
    pair = add_command(
        device, "pair-bay", cmd_device_pair_bay, "pair a kiosk with the wash bay it starts"
    )
    pair.add_argument("kiosk")
    pair.add_argument("bay", nargs="?", default="")
    pair.add_argument("--label", default="", help="what the member is told: 2 for Bay 2")
    pair.add_argument("--off", action="store_true", help="end the kiosk's pairing")
    add_command(device, "bays", cmd_device_bays, "list the kiosks paired with wash bays", read=True)
