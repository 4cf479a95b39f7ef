"""`tapcard hub member leave` and `tapcard hub stored-value settle`: stored value when a
membership ends (hub/stored_value.py).

Both move money, so each shows the member and the amount and does it only when asked
again with `--yes` (the CLI's confirmation, like the dashboard's)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.cli.common import actor_of, add_command, open_hub, print_data, yuan
from hub.stored_value import REFUND_TENDERS, leave, leave_preview, settle


def _shown(preview: dict[str, Any]) -> dict[str, Any]:
    return {
        "member": f"#{preview['member_id']} {preview['name']}",
        "state": preview["state"],
        "stored value": yuan(int(preview["stored_value_cents"])),
        "unclaimed": yuan(int(preview["unclaimed_cents"])),
    }


def cmd_member_leave(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    if not args.yes:
        with hub.engine.connect() as conn:
            preview = leave_preview(conn, args.member_id)
        shown = _shown(preview)
        shown["does"] = (
            f"refunds {shown['stored value']} in {args.refund}, ends the membership"
            if args.refund
            else f"holds {shown['stored value']} as unclaimed, ends the membership"
        )
        print_data(args, shown)
        print("nothing done yet: run again with --yes", file=sys.stderr)
        return 1
    with hub.transaction() as conn:
        ended = leave(
            conn,
            args.member_id,
            refund=args.refund,
            reason=args.reason,
            actor=actor_of(args),
            rules=hub.rules.latest(),
        )
    print_data(
        args,
        {
            "member_id": ended.member_id,
            "refunded": yuan(ended.refunded_cents),
            "unclaimed": yuan(ended.unclaimed_cents),
            "cards_terminated": ended.cards,
            "transfers": ended.tx_ids,
        },
    )
    return 0


def cmd_settle(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    if not args.yes:
        with hub.engine.connect() as conn:
            shown = _shown(leave_preview(conn, args.member_id))
        shown["does"] = f"pays out {shown['unclaimed']} in {args.pay}"
        print_data(args, shown)
        print("nothing paid yet: run again with --yes", file=sys.stderr)
        return 1
    with hub.transaction() as conn:
        tx_id, cents = settle(
            conn,
            args.member_id,
            pay=args.pay,
            reason=args.reason,
            actor=actor_of(args),
            rules=hub.rules.latest(),
        )
    print_data(args, {"member_id": args.member_id, "paid": yuan(cents), "transfer": tx_id})
    return 0


def register_member(member: Any) -> None:
    """`member leave`, under the member group."""
    cmd = add_command(
        member,
        "leave",
        cmd_member_leave,
        "a member leaves: refund or hold the stored value",
        read=True,
    )
    cmd.add_argument("member_id", type=int)
    cmd.add_argument("--refund", choices=REFUND_TENDERS, help="pay the balance back (else held)")
    cmd.add_argument("--reason", required=True)
    cmd.add_argument("--yes", action="store_true", help="do it (without: show what it does)")


def register(cmds: Any) -> None:
    group = cmds.add_parser("stored-value", help="stored value of ended memberships")
    sub = group.add_subparsers(dest="stored_value_cmd", required=True)
    cmd = add_command(
        sub,
        "settle",
        cmd_settle,
        "pay out a terminated member's unclaimed stored value",
        read=True,
    )
    cmd.add_argument("member_id", type=int)
    cmd.add_argument("--pay", choices=REFUND_TENDERS, required=True)
    cmd.add_argument("--reason", required=True)
    cmd.add_argument("--yes", action="store_true", help="pay (without: show what it pays)")
