"""`tapcard hub member | card | voucher | segment`: members, their cards, vouchers
(cli/vouchers.py), their tags and segments (cli/segments.py)."""

from __future__ import annotations

import argparse
from typing import Any

from hub import privacy as privacy_log
from hub.admin.cards import issue_card, renew_card, replace_card, report_lost
from hub.admin.joining import start_join_by_spend
from hub.admin.members import NewMember, add_member, member_history, member_view, search_members
from hub.cli import privacy, profiles, segments, stored_value, vouchers
from hub.cli.common import actor_of, add_command, open_hub, parse_date, print_data
from tapcard.domain.model import CardKind, CardState, Payment

PAYERS = [p.value for p in Payment]  # how a fee is paid


def cmd_member_add(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    new = NewMember(
        name=args.name,
        phone=args.phone,
        id_number=args.id_number or "",
        address=args.address or "",
        birthday=args.birthday,
        tags=tuple(args.tag or ()),
        branch_id=args.branch,
    )
    with hub.transaction() as conn:
        member_id = add_member(
            conn, new, hub.rules.latest(), hub.secrets.id_number_hash(new.id_number), actor_of(args)
        )
    print_data(args, {"member_id": member_id})
    return 0


def cmd_member_search(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = search_members(conn, args.text)
    print_data(args, rows)
    return 0


def cmd_member_show(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        view = member_view(conn, args.member_id)
        view["history"] = member_history(conn, args.member_id)
        privacy_log.log_access(conn, actor_of(args), args.member_id, "show", "cli")  # PIPL
    print_data(args, view)
    return 0


def cmd_card_issue(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        card_id = issue_card(
            conn,
            args.member_id,
            hub.rules.latest(),
            actor_of(args),
            kind=CardKind(args.kind),
            uid=args.uid or "",
            card_id=args.card_id or "",
            daily_cents_max=args.daily_cents_max,
            daily_points_max=args.daily_points_max,
            fee_paid_by=args.fee_paid_by,
            waive_fee=args.waive_fee,
            program=args.program or "",
        )
        if args.join_by_spend:  # instead of the joining fee (docs/rules.md "Joining")
            start_join_by_spend(conn, args.member_id, card_id, hub.rules.latest(), actor_of(args))
    print_data(args, {"card_id": card_id})
    return 0


def cmd_card_lost(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        version = report_lost(conn, args.card_id, actor_of(args))
    print_data(
        args, {"card_id": args.card_id, "state": CardState.LOST.value, "denylist_version": version}
    )
    return 0


def cmd_card_replace(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        new_id = replace_card(
            conn,
            args.card_id,
            hub.rules.latest(),
            actor_of(args),
            uid=args.uid or "",
            fee_paid_by=args.fee_paid_by,
        )
    print_data(args, {"old_card": args.card_id, "new_card": new_id})
    return 0


def cmd_card_renew(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        expiry = renew_card(
            conn, args.card_id, hub.rules.latest(), actor_of(args), fee_paid_by=args.fee_paid_by
        )
    print_data(args, {"card_id": args.card_id, "expires_on": expiry.isoformat()})
    return 0


def register(cmds: Any) -> None:
    member = cmds.add_parser("member", help="members").add_subparsers(
        dest="member_cmd", required=True
    )
    add = add_command(member, "add", cmd_member_add, "register a member", read=True)
    add.add_argument("--name", required=True)
    add.add_argument("--phone", required=True)
    add.add_argument("--id-number")
    add.add_argument("--address")
    add.add_argument("--birthday", type=parse_date)
    add.add_argument("--tag", action="append")
    add.add_argument("--branch")
    search = add_command(
        member, "search", cmd_member_search, "search by phone, name, card or tag", read=True
    )
    search.add_argument("text")
    show = add_command(
        member, "show", cmd_member_show, "a member's profile, cards, balances, history", read=True
    )
    show.add_argument("member_id", type=int)
    profiles.register(member)
    stored_value.register_member(member)
    segments.register_member(member)  # member tag add|remove
    segments.register(cmds)  # segment ...: who the members are, beside them
    privacy.register_member(member)  # member data-export | close | access-log
    privacy.register(cmds)  # privacy rotate-key | seal | retention
    card = cmds.add_parser("card", help="cards").add_subparsers(dest="card_cmd", required=True)
    issue = add_command(card, "issue", cmd_card_issue, "issue a card to a member", read=True)
    issue.add_argument("member_id", type=int)
    issue.add_argument("--kind", choices=[k.value for k in CardKind], default="member")
    issue.add_argument("--uid", help="chip UID (hex)")
    issue.add_argument("--card-id", help="card number (default: the next free one)")
    issue.add_argument("--daily-cents-max", type=int, help="own daily spending limit")
    issue.add_argument("--daily-points-max", type=int, help="own daily redemption limit")
    issue.add_argument("--fee-paid-by", choices=PAYERS, default=Payment.CASH.value)
    issue.add_argument("--waive-fee", action="store_true", help="waive a supplementary fee")
    issue.add_argument("--program", help="a category or cobranded card's program (own points)")
    issue.add_argument(
        "--join-by-spend", action="store_true", help="provisional until the spend threshold"
    )
    lost = add_command(
        card, "lost", cmd_card_lost, "report a card lost: refused everywhere", read=True
    )
    lost.add_argument("card_id")
    replace = add_command(
        card, "replace", cmd_card_replace, "replace a card; balances carry over", read=True
    )
    replace.add_argument("card_id")
    replace.add_argument("--uid")
    replace.add_argument("--fee-paid-by", choices=PAYERS, default=Payment.CASH.value)
    renew = add_command(card, "renew", cmd_card_renew, "renew a card; reactivates it", read=True)
    renew.add_argument("card_id")
    renew.add_argument("--fee-paid-by", choices=PAYERS, default=Payment.CASH.value)
    voucher = cmds.add_parser("voucher", help="vouchers from redemptions").add_subparsers(
        dest="voucher_cmd", required=True
    )
    vouchers.register(voucher)
