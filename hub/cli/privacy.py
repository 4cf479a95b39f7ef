"""`tapcard hub member data-export | close | access-log` and `tapcard hub privacy
rotate-key | seal | retention`: privacy by law (PIPL, hub/privacy*.py).

Closing an account cannot be undone, so it shows what goes and does it only when asked
again with `--yes` (the CLI's confirmation, like the dashboard's)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from hub import privacy
from hub.admin.members import member_view, require_member
from hub.cli.common import actor_of, add_command, open_hub, parse_date, print_data, progress_bar
from hub.privacy_close import closable, close_account
from hub.privacy_export import member_data, write_member_data


def cmd_data_export(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        require_member(conn, args.member_id)
        # Logged first, so the document shows its own export among the reads.
        privacy.log_access(conn, actor_of(args), args.member_id, "data-export", "cli")
        data = member_data(conn, args.member_id)
    size = write_member_data(data, Path(args.out))
    print_data(args, {"member_id": args.member_id, "file": args.out, "bytes": size})
    return 0


def cmd_member_close(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    if not args.yes:
        with hub.engine.connect() as conn:
            rows = closable(conn, args.member_id)
            view = member_view(conn, args.member_id)
        print_data(
            args,
            {
                "member": f"#{view['id']} {view['name']}",
                "anonymised rows": list(rows),
                "cards terminated": [c["id"] for c in view["cards"] if c["state"] == "active"],
            },
        )
        print("nothing closed yet: run again with --yes to anonymise for good", file=sys.stderr)
        return 1
    with hub.transaction() as conn:
        closed = close_account(
            conn, args.member_id, hub.rules.latest(), actor_of(args), args.reason
        )
    print_data(
        args,
        {"member_id": closed.member_id, "rows": list(closed.rows), "cards": list(closed.cards)},
    )
    return 0


def cmd_access_log(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    zone = hub.rules.latest().time_zone if hub.rules.latest_version() else "UTC"
    since = privacy.day_start_ms(args.since, zone) if args.since else None
    until = privacy.day_start_ms(args.until + dt.timedelta(days=1), zone) if args.until else None
    where = privacy.AccessFilter(args.user or "", args.member, since, until)
    with hub.engine.connect() as conn:
        rows = privacy.access_entries(conn, where)
    print_data(args, rows)
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with progress_bar(args, "re-sealing") as shown, hub.transaction() as conn:
        count = privacy.rotate_key(conn, hub.config.data_dir, hub.secrets.secret, shown)
    dropped = privacy.drop_old_keys(hub.config.data_dir, hub.secrets.secret)
    resealed = {"resealed": count.rows, "contacts and notices resealed": count.elsewhere}
    print_data(args, {**resealed, "old keys dropped": dropped})
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with progress_bar(args, "sealing") as shown, hub.transaction() as conn:
        count = privacy.seal_all(conn, progress=shown)
    print_data(args, {"sealed": count.rows, "contacts and notices sealed": count.elsewhere})
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        if args.location_days is not None:
            privacy.set_location_days(conn, args.location_days, actor_of(args))
        days = privacy.location_days(conn)
    print_data(args, {"location_days": days})
    return 0


def register_member(member: Any) -> None:
    export = add_command(
        member, "data-export", cmd_data_export, "everything held about a member, as JSON", True
    )
    export.add_argument("member_id", type=int)
    export.add_argument("--out", required=True, help="the JSON file to write (0600)")
    close = add_command(
        member, "close", cmd_member_close, "close an account: anonymise the person", True
    )
    close.add_argument("member_id", type=int)
    close.add_argument("--reason", required=True)
    close.add_argument("--yes", action="store_true", help="anonymise (without: show what goes)")
    log = add_command(member, "access-log", cmd_access_log, "who read whose data", True)
    log.add_argument("--user", help="who read (web user, cli:NAME)")
    log.add_argument("--member", type=int)
    log.add_argument("--since", type=parse_date, help="YYYY-MM-DD, from this day")
    log.add_argument("--until", type=parse_date, help="YYYY-MM-DD, through this day")


def register(cmds: Any) -> None:
    sub = cmds.add_parser("privacy", help="the member key and retention").add_subparsers(
        dest="privacy_cmd", required=True
    )
    add_command(
        sub, "rotate-key", cmd_rotate_key, "a new member key, all sealed data re-sealed", True
    )
    add_command(sub, "seal", cmd_seal, "seal personal data still held as plain text", True)
    keep = add_command(sub, "retention", cmd_retention, "how long location data is kept", True)
    keep.add_argument("--location-days", type=int)
