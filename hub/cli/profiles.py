"""`tapcard hub member edit | merge | duplicates`: members kept clean.

A merge moves balances and cards, so it shows what would move and does it only when
asked again with `--yes` (the CLI's confirmation, like the dashboard's)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.admin.duplicates import member_duplicates
from hub.admin.merge import merge_members, merge_preview
from hub.admin.profiles import ProfileChange, edit_member
from hub.cli.common import actor_of, add_command, open_hub, print_data, yuan


def cmd_member_edit(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    change = ProfileChange(
        name=args.name,
        phone=args.phone,
        address=args.address,
        birthday=args.birthday,
        id_number=args.id_number,
    )
    with hub.transaction() as conn:
        shown = edit_member(
            conn, args.member_id, change, hub.secrets.id_number_hash, actor_of(args)
        )
    print_data(args, {"member_id": args.member_id, "changed": shown})
    return 0


def _what_moves(preview: dict[str, Any]) -> dict[str, Any]:
    source, target = preview["source"], preview["target"]
    balances = preview["balances"]
    return {
        "from": f"#{source['id']} {source['name']} {source['phone']}",
        "into": f"#{target['id']} {target['name']} {target['phone']}",
        "points": balances.get("points", 0),
        "growth": balances.get("growth", 0),
        "stored value": yuan(int(balances.get("cents", 0))),
        "cards": preview["cards"],
        "tags": preview["tags"],
    }


def cmd_member_merge(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    if not args.yes:
        with hub.engine.connect() as conn:
            preview = merge_preview(conn, args.from_member, args.into_member)
        print_data(args, _what_moves(preview))
        print("nothing merged yet: run again with --yes to merge", file=sys.stderr)
        return 1
    with hub.transaction() as conn:
        summary = merge_members(
            conn,
            args.from_member,
            args.into_member,
            args.reason,
            actor_of(args),
            hub.rules.latest(),
        )
    print_data(args, summary)
    return 0


def cmd_member_duplicates(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = member_duplicates(conn)
    print_data(args, rows, ["member_id", "field", "same_as"])
    return 0


def register(member: Any) -> None:
    edit = add_command(member, "edit", cmd_member_edit, "change a member's profile", read=True)
    edit.add_argument("member_id", type=int)
    edit.add_argument("--name")
    edit.add_argument("--phone")
    edit.add_argument("--address", help='"" clears it')
    edit.add_argument("--birthday", help='YYYY-MM-DD, "" clears it')
    edit.add_argument("--id-number", help='kept only masked and hashed; "" removes it')
    merge = add_command(
        member, "merge", cmd_member_merge, "merge two members who are the same person", read=True
    )
    merge.add_argument("from_member", type=int, help="the member that goes away")
    merge.add_argument("into_member", type=int, help="the member that keeps everything")
    merge.add_argument("--reason", required=True)
    merge.add_argument("--yes", action="store_true", help="merge (without: show what moves)")
    add_command(
        member,
        "duplicates",
        cmd_member_duplicates,
        "members an older database registered twice (same phone or ID number)",
        read=True,
    )
