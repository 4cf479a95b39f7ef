"""`tapcard hub import FILE` and `tapcard hub export members|transactions FILE`: members
moved in from a legacy system and out to an accountant (hub/member_import.py,
hub/member_export.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Final

from hub import member_export, member_import
from hub.cli.common import actor_of, add_command, open_hub, parse_date, progress_bar, yuan, zone_of

REFUSALS_PRINTED_MAX: Final = 20


def _tier(text: str) -> tuple[str, str]:
    legacy, sep, ours = text.partition("=")
    if not sep or not legacy.strip() or not ours.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not LEGACY=TIER (金卡=gold)")
    return legacy.strip(), ours.strip()


def _print_report(report: member_import.ImportReport, dry_run: bool) -> None:
    verb = "would import" if dry_run else ("imported" if report.written else "did not import")
    print(
        f"{report.file} ({report.rows:,} rows, sha256 {report.digest[:16]}): {verb} "
        f"{report.members:,} members, {report.cards:,} cards, stored value "
        f"{yuan(report.balance_cents)}, {report.points:,} points in "
        f"{report.transfers:,} opening transfers"
    )
    if report.refused_count:
        print(f"{report.refused_count:,} rows refused:")
        for line in report.refused[:REFUSALS_PRINTED_MAX]:
            print(f"  {line}")
        if report.refused_count > REFUSALS_PRINTED_MAX:
            more = report.refused_count - REFUSALS_PRINTED_MAX
            print(f"  ... and {more:,} more (--json lists the first {len(report.refused)})")
        if not report.written and not dry_run:
            print("nothing was written: fix the rows, or leave them out with --skip-bad")


def cmd_import(args: argparse.Namespace) -> int:
    hub, path = open_hub(args), Path(args.file)
    if not path.is_file():
        print(f"error: no file {path}", file=sys.stderr)
        return 2
    tiers = dict(args.tier or [])
    rules, id_hash = hub.rules.latest(), hub.secrets.id_number_hash
    with progress_bar(args, "members") as shown:
        if args.dry_run:
            with hub.engine.connect() as conn:
                report = member_import.check_file(conn, path, rules, id_hash, tiers, shown)
        else:
            with hub.transaction() as conn:
                report = member_import.import_file(
                    conn,
                    path,
                    rules,
                    id_hash,
                    actor_of(args),
                    tier_map=tiers,
                    skip_bad=args.skip_bad,
                    progress=shown,
                )
    if args.json:
        print(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
    else:
        _print_report(report, args.dry_run)
    refused = report.refused_count and not (report.written and args.skip_bad)
    return 1 if refused else 0


def cmd_export(args: argparse.Namespace) -> int:
    hub, path = open_hub(args), Path(args.file)
    if args.what == "transactions" and not (args.since and args.until):
        print("error: a transactions export needs --from and --to (YYYY-MM-DD)", file=sys.stderr)
        return 2
    zone = args.zone or zone_of(args)
    with (
        progress_bar(args, args.what) as shown,
        hub.engine.connect() as conn,
        member_export.write_file(path) as out,
    ):
        if args.what == "members":
            count = member_export.export_members(conn, out, shown)
        else:
            count = member_export.export_transactions(
                conn, out, args.since, args.until, zone, shown
            )
    unit = "members" if args.what == "members" else "ledger legs"
    print(f"wrote {count:,} {unit} to {path}")
    return 0


def register(cmds: Any) -> None:
    imp = add_command(
        cmds, "import", cmd_import, "members, cards, balances and points from a legacy CSV or Excel"
    )
    imp.add_argument("file", help="CSV (UTF-8 or GB18030) or .xlsx, headers in Chinese or English")
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    imp.add_argument(
        "--tier", type=_tier, action="append", help="map a legacy tier: LEGACY=TIER (repeat)"
    )
    imp.add_argument("--skip-bad", action="store_true", help="import the good rows, leave the bad")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    exp = add_command(cmds, "export", cmd_export, "members or transactions as CSV")
    exp.add_argument("what", choices=("members", "transactions"))
    exp.add_argument("file", help="the CSV file to write")
    exp.add_argument("--from", dest="since", type=parse_date, help="first local day")
    exp.add_argument("--to", dest="until", type=parse_date, help="last local day")
    exp.add_argument("--zone", help="time zone of the days and times (default: the rules')")
