"""`tapcard hub expire-points`: the points expiry job on demand (the service runs it
daily with the maintenance), with a progress display for a long run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hub import db
from hub.cli.common import add_command, open_hub, parse_date, print_data
from hub.expiry import Progress, run_expiry


@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Progress]:
    """A progress bar on stderr when a person watches; a plain counter line otherwise
    (logs), never on stdout, which carries the result."""
    from rich.console import Console
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    if args.json or not console.is_terminal:

        def counter(done: int, total: int) -> None:
            print(f"expired points: {done}/{total} members", file=sys.stderr, flush=True)

        yield counter
        return
    with Bar(console=console, transient=True) as bar:
        task = bar.add_task("expiring points", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def cmd_expire_points(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        today = args.date or db.today_at(conn)
    with _progress(args) as shown:
        report = run_expiry(hub.writer, hub.rules.latest(), today, shown)
    print_data(
        args,
        {
            "day": today.isoformat(),
            "members": report.members,
            "points": report.points,
            "buckets_pruned_members": report.pruned,
        },
    )
    return 0


def register(cmds: Any) -> None:
    expire = add_command(
        cmds,
        "expire-points",
        cmd_expire_points,
        "book the expiry of points past their last day (idempotent: twice books nothing)",
        read=True,
    )
    expire.add_argument(
        "--date", type=parse_date, help="run as of this day: expire what lapsed before it"
    )
