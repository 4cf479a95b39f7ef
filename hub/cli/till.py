"""`tapcard hub day` and `tapcard hub close-day`: a branch's daily close (日结).

`day --branch B [--date D]` shows the business day's money by tender and by device, the
tills' shifts with their differences and the hub's check of their cash (till vs hub:
the till's net cash less what the hub booked for the device), and whether the day is
closed (and what was booked on it after the close).

`close-day --branch B --manager M [--date D]` is the manager's sign-off: it shows the
same figures and asks before closing unless `--yes`; the figures as they stand are kept
and audited, and a day is closed once (hub/till.py). The date is the business day in
the rules' time zone, today by default."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from hub import till
from hub.cli.common import add_command, open_hub, print_data, yuan
from tapcard.domain.authority import business_date
from tapcard.errors import ValidationError


def _shown(report: dict[str, Any]) -> dict[str, Any]:
    """The report for people: money in yuan, one line per tender, device and shift."""
    shown: dict[str, Any] = {"branch": report["branch"], "day": report["day"]}
    for tender, cents in sorted(report["by_tender"].items()):
        shown[f"tender {tender}"] = yuan(cents)
    for device, tenders in sorted(report["by_device"].items()):
        parts = ", ".join(f"{t} {yuan(c)}" for t, c in sorted(tenders.items()))
        shown[f"device {device or 'HQ'}"] = parts
    for s in report["shifts"]:
        shown[f"shift {s['device_id']} {s['shift_id'][:8]}"] = (
            f"expected {yuan(s['expected_cents'])}, counted {yuan(s['counted_cents'])}, "
            f"difference {yuan(s['difference_cents'])}; {_check(s)}"
        )
    shown["shift differences"] = yuan(report["difference_cents"])
    shown["till vs hub cash"] = yuan(report["mismatch_cents"])
    shown["transfers"] = report["transfers"]
    shown["closed"] = "yes" if report["closed"] else "no"
    if report["closed"]:
        shown["closed by"] = report["closed_by"]
        if report["signed_mismatch_cents"] is not None:
            shown["signed till vs hub cash"] = yuan(report["signed_mismatch_cents"])
        after = report["after_close"]
        shown["booked after close"] = (
            ", ".join(f"{t} {yuan(c)}" for t, c in after.items()) if after else "nothing"
        )
    return shown


def _check(s: dict[str, Any]) -> str:
    """The hub's check of a shift's cash: its cash in and out, the mismatch now and, when
    it was other, at the report."""
    text = (
        f"hub cash in {yuan(s['hub_cash_in_cents'])}, out {yuan(s['hub_cash_out_cents'])}, "
        f"till vs hub {yuan(s['mismatch_cents'])}"
    )
    at_report = s["mismatch_at_report_cents"]
    if at_report is not None and at_report != s["mismatch_cents"]:
        text += f" (at the report {yuan(at_report)})"
    return text


def _day_of(args: argparse.Namespace, zone: str, now_ms: int) -> dt.date:
    if not args.date:
        return business_date(now_ms, zone)
    try:
        return dt.date.fromisoformat(args.date)
    except ValueError:
        raise ValidationError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from None


def cmd_day(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    zone = hub.rules.latest().time_zone
    day = _day_of(args, zone, hub.clock.now_ms())
    with hub.engine.connect() as conn:
        report = till.day_report(conn, args.branch, day, zone)
    print_data(args, report if args.json else _shown(report))
    return 0


def cmd_close_day(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    zone = hub.rules.latest().time_zone
    day = _day_of(args, zone, hub.clock.now_ms())
    if not args.yes:
        with hub.engine.connect() as conn:
            report = till.day_report(conn, args.branch, day, zone)
        print_data(args, _shown(report))
        if not sys.stdin.isatty() or input("Close this day? [y/N] ").strip().lower() != "y":
            print("the day is not closed: run again with --yes", file=sys.stderr)
            return 1
    with hub.transaction() as conn:
        till.day_report(conn, args.branch, day, zone)  # an unknown branch: refused by name
        till.close_day(conn, args.branch, day, args.manager, zone, hub.clock.now_ms())
        report = till.day_report(conn, args.branch, day, zone)
    print_data(args, report if args.json else _shown(report))
    return 0


def register(cmds: Any) -> None:
    day = add_command(cmds, "day", cmd_day, "a branch's business day: tenders, shifts", True)
    day.add_argument("--branch", required=True, help="the branch")
    day.add_argument("--date", help="YYYY-MM-DD, the business day (default today)")
    close = add_command(
        cmds, "close-day", cmd_close_day, "a manager signs a branch's day off (日结)", True
    )
    close.add_argument("--branch", required=True, help="the branch")
    close.add_argument("--manager", required=True, help="the signing manager's staff id")
    close.add_argument("--date", help="YYYY-MM-DD, the business day (default today)")
    close.add_argument("--yes", action="store_true", help="close without asking")
