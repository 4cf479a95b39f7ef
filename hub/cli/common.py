"""What every `tapcard hub` command shares: its hub, actor, output and parser helper."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
from collections.abc import Callable
from typing import Any

from hub.app import Hub
from hub.config import HubConfig

Handler = Callable[[argparse.Namespace], int]


def config_of(args: argparse.Namespace) -> HubConfig:
    return HubConfig.from_env(args.data, args.db, args.broker)


def open_hub(args: argparse.Namespace) -> Hub:
    """The hub for one command; `run` closes it (its database pool) when the command
    ends, so an in-process caller (tests, a wrapper) leaks no connections."""
    hub = Hub.open(config_of(args))
    args.opened_hubs.append(hub)
    return hub


def actor_of(args: argparse.Namespace) -> str:
    return str(args.actor or f"cli:{getpass.getuser()}")


def print_data(args: argparse.Namespace, data: Any, columns: list[str] | None = None) -> None:
    if args.json:
        print(json.dumps(data, default=str, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if isinstance(data, list):
        if not data:
            console.print("(nothing)")
            return
        cols = columns or list(data[0])
        table = Table(*cols)
        for row in data:
            table.add_row(*(str(row.get(c, "")) for c in cols))
        console.print(table)
    elif isinstance(data, dict):
        table = Table("field", "value", show_header=False)
        for key, value in data.items():
            table.add_row(
                str(key),
                json.dumps(value, default=str, ensure_ascii=False)
                if isinstance(value, list | dict)
                else str(value),
            )
        console.print(table)
    else:
        console.print(str(data))


def progress(args: argparse.Namespace, what: str) -> Any:
    """A spinner on stderr for long work, when a person is watching (not with --json)."""
    from rich.console import Console

    console = Console(stderr=True)
    if args.json or not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(f"{what}...")


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_command(sub: Any, name: str, handler: Handler, help_text: str, read: bool = False) -> Any:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler, json=False)
    if read:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser
