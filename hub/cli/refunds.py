"""`tapcard hub refund REF [--line N:QTY ...] --reason TEXT`: a refund booked at HQ.

It shows the member, what goes back (in yuan, and how) and the points taken back, and
asks before booking unless `--yes`; `--tx-id` makes it idempotent (the same id books
once, and answers what it booked when run again)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.admin.refund import RefundDone, book_refund, preview_refund
from hub.cli.common import actor_of, add_command, open_hub, print_data, yuan
from tapcard.errors import ValidationError
from tapcard.wire import messages as m

PAID_BACK = {"cash": "cash paid out", "stored_value": "to the card's stored value", "": ""}


def parse_line(text: str) -> m.RefundLine:
    """`N:QTY`: line N (0-based, as the sale lists them), QTY of it."""
    number, _, quantity = text.partition(":")
    try:
        return m.RefundLine(line_no=int(number), quantity=int(quantity or "1"))
    except ValueError:
        raise ValidationError(f"--line {text!r}: give LINE:QUANTITY, e.g. 0:2") from None


def _shown(done: RefundDone) -> dict[str, Any]:
    return {
        "sale": done.sale_tx_id,
        "member": done.member_id,
        "money back": f"{yuan(done.money_cents)} {PAID_BACK.get(done.payment, '')}".strip(),
        "points": done.points,
        "points already spent (exception for HQ)": done.shortfall_points,
    }


def cmd_refund(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    lines = [parse_line(text) for text in args.line or []]
    op = m.Refund(ref=args.ref, lines=lines, reason=args.reason)
    actor = actor_of(args)
    if not args.yes:
        with hub.transaction() as conn:
            preview = preview_refund(conn, hub.rules, op, actor)
        print_data(args, _shown(preview))
        if not sys.stdin.isatty() or input("Book this refund? [y/N] ").strip().lower() != "y":
            print("nothing refunded: run again with --yes", file=sys.stderr)
            return 1
    with hub.transaction() as conn:
        done = book_refund(conn, hub.rules, op, actor, args.tx_id or "")
    shown = _shown(done) | {"refund": done.tx_id, "booked now": done.booked}
    print_data(args, shown)
    return 0


def register(cmds: Any) -> None:
    cmd = add_command(
        cmds, "refund", cmd_refund, "refund a sale or a redemption, whole or by line", read=True
    )
    cmd.add_argument("ref", help="the sale's transfer id or receipt number")
    cmd.add_argument("--line", action="append", metavar="N:QTY", help="line N, QTY of it")
    cmd.add_argument("--reason", required=True, help="why (the refunds report groups by it)")
    cmd.add_argument("--tx-id", help="the refund's transfer id: booking it again does nothing")
    cmd.add_argument("--yes", action="store_true", help="book without asking")
