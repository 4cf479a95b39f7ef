"""`tapcard hub ...`: the admin CLI. Read commands take --json; errors exit non-zero.

One module per group of commands (server, registry, members, staff, ledger), each with
the `register` that adds its commands; this module builds the `hub` parser from them
(in the order `--help` lists them) and runs the chosen command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.exc import DBAPIError

from hub.cli import (
    ledger,
    members,
    moving,
    notices,
    points,
    products,
    refunds,
    registry,
    server,
    staff,
    stored_value,
    till,
)
from hub.cli.common import Handler, add_command, config_of
from hub.cli.hints import with_next_step
from tapcard.errors import TapcardError


def register(sub: Any) -> None:
    hub_parser = sub.add_parser("hub", help="the HQ server: ledger, rules, devices, reports")
    hub_parser.add_argument("--data", help="data folder (default ./data or $TAPCARD_DATA)")
    hub_parser.add_argument("--db", help="database URL (default SQLite in the data folder)")
    hub_parser.add_argument("--broker", help="broker host:port (default: start a private one)")
    hub_parser.add_argument("--actor", help="who is acting, for the audit trail")
    hub_parser.add_argument(
        "--progress",
        action="store_true",
        help="draw progress bars on stderr even when it is not a terminal",
    )
    cmds = hub_parser.add_subparsers(dest="hub_command", required=True)
    server.register(cmds)
    registry.register(cmds)
    members.register(cmds)
    staff.register(cmds)
    ledger.register(cmds)
    points.register(cmds)
    stored_value.register(cmds)
    refunds.register(cmds)
    products.register(cmds)
    moving.register(cmds)
    notices.register(cmds)
    till.register(cmds)  # day, close-day
    from hub.deploy.commands import register as register_deploy

    register_deploy(cmds, add_command, config_of)  # broker-config, backup, restore


def run(args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    args.opened_hubs = []
    try:
        return handler(args)
    except TapcardError as exc:
        print(f"error: {with_next_step(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file named on the command line that cannot be opened
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"error: cannot open{where}: {exc.strerror or exc}; check the path (and that its "
            "folder exists), then run the command again",
            file=sys.stderr,
        )
        return 2
    except DBAPIError as exc:  # the database went away or refused, after it was reached
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(
            f"error: the database failed: {reason}; check the database server, then run "
            "the command again (its unfinished transaction was rolled back)",
            file=sys.stderr,
        )
        return 2
    finally:
        for hub in args.opened_hubs:
            hub.close()
