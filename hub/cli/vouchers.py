"""`tapcard hub voucher use | expire`: accepting a voucher where it counts, and the
expiry of unused ones (also part of the daily `tapcard hub maintain`)."""

from __future__ import annotations

import argparse
from typing import Any

from hub.admin.vouchers import expire_vouchers, use_voucher
from hub.cli.common import actor_of, add_command, open_hub, print_data, progress_bar
from tapcard.domain.model import DeviceKind
from tapcard.domain.vouchers import Place


def cmd_voucher_use(args: argparse.Namespace) -> int:
    """Accept a voucher once (a car park's exit system can call this, naming where it
    stands): exit 2 with the reason when it is unknown, used, expired or misplaced."""
    hub = open_hub(args)
    place = None
    if args.branch or args.device_kind:
        place = Place(branch=args.branch or "", device_kind=args.device_kind or "")
    with hub.transaction() as conn:
        used = use_voucher(conn, args.code, actor_of(args), place)
    print_data(args, used)
    return 0


def cmd_voucher_expire(args: argparse.Namespace) -> int:
    """Expire the unused vouchers past their expiry now (hub time), giving points back
    where the rules said so; running it again does nothing more."""
    hub = open_hub(args)
    with progress_bar(args, "expiring vouchers") as shown, hub.transaction() as conn:
        report = expire_vouchers(conn, hub.rules.latest(), shown)
    print_data(args, {"expired": report.expired, "points_back": report.points_back})
    return 0


def register(voucher: Any) -> None:
    use = add_command(voucher, "use", cmd_voucher_use, "accept a voucher, once", read=True)
    use.add_argument("code", help="as printed (XXXX-XXXX-XXXX) or as scanned")
    use.add_argument("--branch", help="the branch where it is shown (checked against its place)")
    use.add_argument(
        "--device-kind",
        choices=[k.value for k in DeviceKind],
        help="the kind of device it is shown at (checked against its place)",
    )
    add_command(
        voucher, "expire", cmd_voucher_expire, "expire unused vouchers past expiry", read=True
    )
