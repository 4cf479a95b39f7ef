"""What every `tapcard hub` command shares: its hub, actor, output and parser helper.

Output, in one place: `--json` prints the data as it is (cents, epoch ms: what scripts
and tests read); without it people get aligned tables, money as ¥ yuan with thousands
separators and times in the business time zone of the rules (RuleSet.time_zone). The
unit a column carries is in its name: `*_cents` is money, `*_yuan` already yuan, `*_ms`
a moment; the header drops the suffix. Progress bars go to stderr (`progress_bar`)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import sys
import zoneinfo
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.app import Hub
from hub.config import HubConfig
from hub.progress import Progress
from tapcard.domain.rules import BUSINESS_TIME_ZONE_DEFAULT
from tapcard.errors import TapcardError, ValidationError

Handler = Callable[[argparse.Namespace], int]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# A table cell longer than this is cut (with "…"): a list belongs in --json.
CELL_CHARS_MAX = 120
WIDTH_PIPED_CHARS = 200  # a table written to a pipe or file is not squeezed to 80 columns
# Integer columns that are quantities, shown with thousands separators (ids are not).
COUNT_WORDS = ("points", "growth", "legs", "transfers", "accounts", "results", "members")


def config_of(args: argparse.Namespace) -> HubConfig:
    return HubConfig.from_env(args.data, args.db, args.broker)


def open_hub(args: argparse.Namespace) -> Hub:
    """The hub for one command; `run` closes it (its database pool) when the command
    ends, so an in-process caller (tests, a wrapper) leaks no connections."""
    hub = Hub.open(config_of(args))
    args.opened_hubs.append(hub)
    return hub


def secret(from_stdin: bool, prompt: str, flag: str) -> str:
    """A password or PIN: one line of stdin when asked, else typed at the terminal. With
    no terminal (a script, a pipe) getpass would print warnings and read the pipe, so
    the command refuses and names the flag instead."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    try:
        at_terminal = sys.stdin.isatty()
    except (AttributeError, OSError, ValueError):  # a closed or replaced stdin
        at_terminal = False
    if not at_terminal:
        raise ValidationError(f"no terminal to type the {prompt} at: give it on stdin with {flag}")
    return getpass.getpass(f"{prompt}: ")


def actor_of(args: argparse.Namespace) -> str:
    return str(args.actor or f"cli:{getpass.getuser()}")


# --- formatting ----------------------------------------------------------------------


def yuan(cents: int) -> str:
    """Integer cents as people read money: 2681400 -> "¥26,814.00", -5 -> "-¥0.05"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}¥{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def local_time(epoch_ms: int, zone: str) -> str:
    """Epoch ms as the wall clock of `zone` (the business time zone)."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(zone)).strftime(TIME_FORMAT)


def header(key: str) -> str:
    """A column's name without its unit suffix: `net_cents` -> "net"."""
    for suffix in ("_cents", "_yuan", "_ms"):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def cell(key: str, value: Any, zone: str) -> str:
    """One value as shown in a table, by what its column's name says it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key.endswith("_cents"):
        return yuan(value)
    if key.endswith("_yuan"):
        return _yuan_text(value)
    if isinstance(value, int) and key.endswith("_ms"):
        return local_time(value, zone) if value > 0 else "never"
    if isinstance(value, int) and any(word in key for word in COUNT_WORDS):
        return f"{value:,}"
    text = (
        json.dumps(value, default=str, ensure_ascii=False)
        if isinstance(value, list | dict)
        else str(value)
    )
    return text if len(text) <= CELL_CHARS_MAX else text[: CELL_CHARS_MAX - 1] + "…"


def _yuan_text(value: Any) -> str:
    try:
        cents = int((Decimal(str(value)) * 100).to_integral_value())
    except InvalidOperation:
        return str(value)
    return yuan(cents)


def zone_of(args: argparse.Namespace) -> str:
    """The business time zone of the hub a command opened (its latest rules)."""
    for hub in getattr(args, "opened_hubs", []):
        with contextlib.suppress(TapcardError):
            return str(hub.rules.latest().time_zone)
    return BUSINESS_TIME_ZONE_DEFAULT


def console(stderr: bool = False, force: bool = False) -> Any:
    from rich.console import Console

    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, force_terminal=force or None, width=WIDTH_PIPED_CHARS)


def table_of(rows: list[dict[str, Any]], columns: list[str], zone: str, title: str = "") -> Any:
    from rich.table import Table

    table = Table(*(header(c) for c in columns), title=title or None, title_justify="left")
    for column, name in zip(table.columns, columns, strict=True):
        column.overflow = "fold"
        sample = next((r.get(name) for r in rows if r.get(name) is not None), None)
        number = isinstance(sample, int | Decimal) and not isinstance(sample, bool)
        if number and not name.endswith("_ms"):  # amounts right-aligned, as on a receipt
            column.justify = "right"
    for row in rows:
        table.add_row(*(cell(c, row.get(c), zone) for c in columns))
    return table


def print_data(args: argparse.Namespace, data: Any, columns: list[str] | None = None) -> None:
    if args.json:
        print(json.dumps(data, default=str, ensure_ascii=False, indent=2))
        return
    out = console()
    zone = zone_of(args)
    if isinstance(data, list):
        if not data:
            out.print("(nothing)")
            return
        out.print(table_of(data, columns or list(data[0]), zone))
    elif isinstance(data, dict):
        _print_record(out, data, zone)
    else:
        out.print(str(data))


def _print_record(out: Any, data: dict[str, Any], zone: str) -> None:
    """A record as field/value rows; its lists of records as tables of their own below."""
    from rich.table import Table

    table = Table("field", "value", show_header=False)
    nested: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.append((key, value))
            table.add_row(header(key), f"{len(value):,} (below)")
        else:
            table.add_row(header(key), cell(key, value, zone))
    out.print(table)
    for key, rows in nested:
        out.print(table_of(rows, list(rows[0]), zone, title=header(key)))


# --- progress ------------------------------------------------------------------------


@contextlib.contextmanager
def progress_bar(args: argparse.Namespace, what: str) -> Iterator[Progress]:
    """A bar on stderr while long work runs, drawn when stderr is a terminal or when
    asked (`tapcard hub --progress`); otherwise the callback does nothing, so pipes,
    logs and tests stay clean. Stdout, which carries the result, is never touched."""
    from rich import progress as bars

    asked = bool(getattr(args, "progress", False))
    err = console(stderr=True, force=asked)
    if not (asked or err.is_terminal):
        yield lambda _what, _done, _total: None
        return
    columns = (bars.TextColumn("{task.description}"), bars.BarColumn(), bars.MofNCompleteColumn())
    with bars.Progress(*columns, bars.TimeElapsedColumn(), console=err, transient=not asked) as bar:
        task = bar.add_task(what, total=None)

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"{what}: {step}", completed=done, total=total or None)

        yield advance


def progress(args: argparse.Namespace, what: str) -> Any:
    """A spinner on stderr for long work without steps, when a person is watching."""
    err = console(stderr=True)
    if args.json or not err.is_terminal:
        return contextlib.nullcontext()
    return err.status(f"{what}...")


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
