"""`tapcard hub broker-config | backup | restore`, and what `serve` does for systemd
(--migrate, --tls, sd_notify). hub/cli.py registers these with one call."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DatabaseError

from hub.config import BrokerAddress, HubConfig
from hub.deploy import backup as backups
from hub.deploy.broker_config import (
    TLS_PORT_DEFAULT,
    BrokerFiles,
    ListenerSettings,
    run_as_root_default,
    write_branch_config,
    write_hq_config,
)
from hub.deploy.provision import RELOAD_HINT, save_settings
from tapcard.errors import ValidationError

Handler = Callable[[argparse.Namespace], int]
ConfigOf = Callable[[argparse.Namespace], HubConfig]


def _names(args: argparse.Namespace) -> tuple[str, ...]:
    names = list(args.name or []) or [socket.getfqdn(), "localhost", "127.0.0.1"]
    return tuple(dict.fromkeys(names))  # in order, once each


def cmd_broker_config(args: argparse.Namespace, config: HubConfig) -> int:
    from hub.app import Hub

    hub = Hub.open(config)
    listen = BrokerAddress.parse(args.listen)
    default_out = config.data_dir / ("broker-" + args.branch if args.branch else "broker")
    settings = ListenerSettings(
        out_dir=Path(args.out or default_out).resolve(),
        port=listen.port,
        bind=listen.host,
        names=_names(args),
        run_as_root=run_as_root_default(),
    )
    settings.out_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    files: BrokerFiles
    if args.branch:
        if not args.hq:
            raise ValidationError("--branch needs --hq HOST:PORT, the HQ broker's TLS listener")
        hq = BrokerAddress.parse(args.hq)
        files = write_branch_config(hub.engine, config.data_dir, settings, args.branch, hq)
    else:
        files = write_hq_config(hub.engine, config.data_dir, settings)
        save_settings(config.data_dir, settings)  # device add / revoke rewrite the ACL
    hub.close()
    print(f"mosquitto config written to {files.config}")
    print(f"  ACL {files.acl}: {len(files.devices)} active device(s), {len(files.revoked)} revoked")
    print(f"  TLS on {settings.bind}:{settings.port}, CA {files.tls.ca}, CRL {files.crl}")
    print(f"  run: mosquitto -c {files.config}   (or {RELOAD_HINT})")
    return 0


def cmd_backup(args: argparse.Namespace, config: HubConfig) -> int:
    from hub.cli.common import progress_bar

    dest = Path(args.dest) if args.dest else config.data_dir / "backups"
    with progress_bar(args, "backup") as shown:
        result = backups.backup(config, dest, args.keep, shown)
    print(f"backup written to {result.path} ({result.size_bytes} bytes)")
    for path in result.removed:
        print(f"  rotated out {path.name}")
    return 0


def cmd_restore(args: argparse.Namespace, config: HubConfig) -> int:
    from hub.cli.common import progress_bar

    with progress_bar(args, "restore") as shown:
        moved = backups.restore(config, Path(args.file), force=args.force, progress=shown)
    if moved is not None:
        print(f"the previous database was moved to {moved}")
    print(f"restored {args.file}; check it with `tapcard hub verify`, then start the hub")
    return 0


def register(cmds: Any, add: Callable[..., Any], config_of: ConfigOf) -> None:
    """Add the commands to the `tapcard hub` parser (`add` is hub.cli._add)."""

    def bind(func: Callable[[argparse.Namespace, HubConfig], int]) -> Handler:
        return lambda args: func(args, config_of(args))

    broker = add(
        cmds,
        "broker-config",
        bind(cmd_broker_config),
        "write the TLS mosquitto config, CA, certificates and ACL from the registry",
    )
    broker.add_argument(
        "--listen",
        default=f"0.0.0.0:{TLS_PORT_DEFAULT}",
        help=f"TLS listener address (default 0.0.0.0:{TLS_PORT_DEFAULT})",
    )
    broker.add_argument(
        "--name", action="append", help="a name devices reach the broker by (repeat)"
    )
    broker.add_argument("--out", help="folder for the config (default <data>/broker)")
    broker.add_argument("--branch", help="write a branch broker bridged to HQ instead")
    broker.add_argument("--hq", help="with --branch: the HQ broker's TLS address")
    dump = add(cmds, "backup", bind(cmd_backup), "back up the database (online) with rotation")
    dump.add_argument("--dest", help="backup folder (default <data>/backups)")
    dump.add_argument(
        "--keep", type=int, default=backups.KEEP_DEFAULT, help="backups to keep (newest)"
    )
    load = add(cmds, "restore", bind(cmd_restore), "restore a backup into a fresh database")
    load.add_argument("file")
    load.add_argument("--force", action="store_true", help="move an existing SQLite file aside")


def migrate_before_serve(config: HubConfig) -> None:
    """`serve --migrate`: bring the schema up before opening (no-op when current)."""
    from hub.app import Hub, head_revision, migrate, schema_revision

    hub = Hub(config)
    try:
        current = schema_revision(hub.engine)
        if current is not None and current != head_revision():
            migrate(hub.engine)
            print(f"schema migrated from {current} to {head_revision()}", flush=True)
    except DatabaseError:
        pass  # unreadable: Hub.open says so and points to the restore command
    finally:
        hub.close()


def use_tls(service: Any, config: HubConfig) -> None:
    """The hub's client certificate for the broker's TLS listener."""
    from hub.deploy.pki import hub_client_tls

    files = hub_client_tls(config.data_dir)
    service.configure_tls(str(files.ca), str(files.cert), str(files.key))
