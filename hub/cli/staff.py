"""`tapcard hub staff`: staff who log in at counter terminals, and their cards."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hub.cli.common import actor_of, add_command, open_hub, print_data, secret
from tapcard.domain.model import StaffRole


def cmd_staff_add(args: argparse.Namespace) -> int:
    from hub.staff import add_staff

    pin = secret(args.pin_stdin, "PIN", "--pin-stdin").strip()
    hub = open_hub(args)
    with hub.transaction() as conn:
        add_staff(conn, args.id, args.name, args.branch, args.role, pin, actor_of(args))
    print(f"staff {args.id} ({args.role}) added at branch {args.branch}")
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    from hub.staff import list_staff

    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = list_staff(conn)
    print_data(args, rows)
    return 0


def cmd_staff_card(args: argparse.Namespace) -> int:
    from hub.staff import staff_card_credential
    from hub.staff_pins import staff_card_id

    hub = open_hub(args)
    with hub.transaction() as conn:
        credential = staff_card_credential(
            conn, hub.secrets.issuer_key, args.id, args.uid.lower(), args.card_key, actor_of(args)
        )
    if args.out:
        Path(args.out).write_text(credential + "\n", encoding="utf-8")
        print(f"staff card {staff_card_id(args.id)}: credential written to {args.out}")
    else:
        print(credential)
    return 0


def register(cmds: Any) -> None:
    staff = cmds.add_parser("staff", help="staff who log in at terminals").add_subparsers(
        dest="staff_cmd", required=True
    )
    add = add_command(staff, "add", cmd_staff_add, "add a staff member with a PIN")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument("--branch", required=True)
    add.add_argument("--role", choices=[r.value for r in StaffRole], required=True)
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    add_command(staff, "list", cmd_staff_list, "list staff", read=True)
    card = add_command(staff, "card", cmd_staff_card, "sign a staff card credential for a chip")
    card.add_argument("id")
    card.add_argument("--uid", required=True, help="the chip's UID (hex)")
    card.add_argument("--card-key", default="", help="the chip's public key (hex), if any")
    card.add_argument("--out", help="write the credential (hex) here instead of printing it")
