"""`tapcard hub expire-points`: the points expiry job on demand (the service runs it
daily with the maintenance), with a progress display for a long run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hub import db
from hub.cli.common import add_command, console, open_hub, parse_date, print_data, progress_bar
from hub.expiry import Progress, preview_expiry, run_expiry


@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Progress]:
    """The bar of the other long commands when a person watches (or --progress); a
    plain counter line otherwise (logs), never on stdout, which carries the result."""
    if getattr(args, "progress", False) or console(stderr=True).is_terminal:
        with progress_bar(args, "expiring points") as shown:
            yield lambda done, total: shown("members", done, total)
        return

    def counter(done: int, total: int) -> None:
        print(f"expired points: {done}/{total} members", file=sys.stderr, flush=True)

    yield counter


def cmd_expire_points(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        today = args.date or db.today_at(conn)
    if not args.yes:  # points leave members' accounts: say how many, book only when told
        members, points = preview_expiry(hub.engine, today)
        print_data(args, {"day": today.isoformat(), "members": members, "points": points})
        print(
            f"{points} points of {members} members would expire; run with --yes to book it",
            file=sys.stderr,
        )
        return 0
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
    expire.add_argument("--yes", action="store_true", help="book it (without: only show it)")
