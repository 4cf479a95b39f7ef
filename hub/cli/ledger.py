"""`tapcard hub rules | verify | reverse | maintain | report`: the ledger and its rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub import db, report_list, reports
from hub.admin.audit import audit
from hub.admin.booking import reverse_points
from hub.cli.common import (
    actor_of,
    add_command,
    open_hub,
    parse_date,
    print_data,
    progress_bar,
)
from hub.rulestore import parse_rules, store_rules
from tapcard.errors import NotFoundError, ValidationError

RULES_LOAD_STEPS = 3  # parse and validate, the fleet's check, store
BRANCHES_SHOWN_MAX = 5  # branch ids named when --branch names none of them
VERIFY_SHOWN_MAX = 20  # problems printed without --json (the summary counts them all)


def cmd_rules_load(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    if args.sample:
        from tapcard.samples import sample_rules_bytes

        data = sample_rules_bytes()
    elif args.file:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read {args.file}: {exc.strerror}") from None
    else:
        raise ValidationError("give a rule set FILE or --sample")
    from hub.deploy.compat import check_fleet_reads  # deploy: older devices must read it

    with progress_bar(args, "rules") as shown:
        shown("checking the rule set", 0, RULES_LOAD_STEPS)
        rules = parse_rules(data)
        shown("checking the fleet can read it", 1, RULES_LOAD_STEPS)
        check_fleet_reads(hub.engine, rules, data, force=args.force)
        shown("storing", 2, RULES_LOAD_STEPS)
        with hub.transaction() as conn:
            store_rules(conn, rules, actor_of(args))
            audit(conn, actor_of(args), "rules.load", str(rules.version), {"name": rules.name})
        shown("done", RULES_LOAD_STEPS, RULES_LOAD_STEPS)
    print(f"rule set {rules.version} ({rules.name}) loaded; the hub publishes it to devices")
    return 0


def cmd_rules_show(args: argparse.Namespace) -> int:
    import msgspec

    hub = open_hub(args)
    version = args.version or hub.rules.latest_version()
    rules = hub.rules.get(version) if version else None
    if rules is None:
        raise ValidationError(f"rule set {version} is not loaded")
    if args.branch or args.device:
        from hub.rulestore import effective_for

        with hub.engine.connect() as conn:
            rules = effective_for(conn, rules, args.branch or "", args.device or "").rules
    print(json.dumps(json.loads(msgspec.json.encode(rules)), indent=2, ensure_ascii=False))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from hub.verify import verify_ledger

    hub = open_hub(args)
    with progress_bar(args, "verifying the journal") as shown, hub.engine.connect() as conn:
        report = verify_ledger(conn, shown)
    data = {
        "ok": report.ok,
        "transfers": report.transfers,
        "legs": report.legs,
        "accounts": report.accounts,
        "results": report.results,
        "errors": report.errors,
        "warnings": report.warnings,
        "problems": report.problems,
    }
    if args.json:
        print_data(args, data)
    else:
        _print_verify(args, data)
    return 0 if report.ok else 1


def _print_verify(args: argparse.Namespace, data: dict[str, Any]) -> None:
    """The counts, the problems by kind, then the first VERIFY_SHOWN_MAX problems: a
    damaged journal can have thousands, and the full list is in --json."""
    problems = [f"error: {e}" for e in data["errors"]] + [f"warning: {w}" for w in data["warnings"]]
    summary = {k: data[k] for k in ("ok", "transfers", "legs", "accounts", "results")}
    print_data(args, summary | {"errors": len(data["errors"]), "warnings": len(data["warnings"])})
    if not problems:
        return
    print_data(args, [{"problem": kind, "found": n} for kind, n in data["problems"].items()])
    for line in problems[:VERIFY_SHOWN_MAX]:
        print(line)
    if len(problems) > VERIFY_SHOWN_MAX:
        print(f"... and {len(problems) - VERIFY_SHOWN_MAX:,} more: `tapcard hub verify --json`")


def cmd_reverse(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        reversal = reverse_points(conn, args.tx_id, actor_of(args), args.reason, hub.rules.latest())
    print_data(args, {"reversed": args.tx_id, "reversal": reversal})
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from hub.maintenance import run_maintenance

    hub = open_hub(args)
    with hub.transaction() as conn:
        report = run_maintenance(conn, hub.rules.latest(), args.today or db.today_at(conn))
    print_data(
        args,
        {
            "downgraded": [{"member": m, "from": a, "to": b} for m, a, b in report.downgraded],
            "kept": report.kept,
            "terminated": report.terminated,
            "expired_cards": report.expired_cards,
            "joined_by_spend": report.joins.full,
            "joins_lapsed": report.joins.lapsed,
            "vouchers_expired": report.vouchers.expired,
            "voucher_points_back": report.vouchers.points_back,
        },
    )
    return 0


def _check_report_args(conn: Any, args: argparse.Namespace) -> None:
    """A period that ends before it starts, or a branch that is not there, would print
    "(nothing)" as if the report were empty: say what is wrong instead."""
    if args.start and args.end and args.start > args.end:
        raise ValidationError(
            f"--from {args.start} is after --to {args.end}: give the earlier day first"
        )
    if args.branch:
        ids = list(conn.execute(sa.select(db.branches.c.id).order_by(db.branches.c.id)).scalars())
        if args.branch not in ids:
            more = ", ..." if len(ids) > BRANCHES_SHOWN_MAX else ""
            known = ", ".join(ids[:BRANCHES_SHOWN_MAX]) + more
            raise NotFoundError(f"--branch {args.branch} is none of the branches ({known})")


def cmd_report(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    func = report_list.REPORTS[args.name]
    kwargs: dict[str, Any] = {}
    if args.name in report_list.DATED:
        kwargs = {"start": args.start, "end": args.end}
    if args.name in report_list.BRANCHED:
        kwargs["branch"] = args.branch
    with hub.engine.connect() as conn:
        _check_report_args(conn, args)
        rows = func(conn, **kwargs)
    if args.name in report_list.IN_YUAN:  # money: shown in yuan
        rows = reports.in_yuan(rows)
    print_data(args, rows)
    return 0


def register(cmds: Any) -> None:
    rules = cmds.add_parser("rules", help="rule sets").add_subparsers(
        dest="rules_cmd", required=True
    )
    load = add_command(rules, "load", cmd_rules_load, "load a new rule set version (JSON)")
    load.add_argument("file", nargs="?")
    load.add_argument("--sample", action="store_true", help="load the built-in sample rules")
    load.add_argument("--force", action="store_true", help="load even if old devices can't read it")
    show = add_command(rules, "show", cmd_rules_show, "print a rule set", read=True)
    show.add_argument("--version", type=int)
    show.add_argument("--branch", help="the effective rules of this branch (its override merged)")
    show.add_argument("--device", help="the effective rules of this device (its branch's, its own)")
    add_command(cmds, "verify", cmd_verify, "re-sum the journal and prove every balance", read=True)
    reverse = add_command(
        cmds, "reverse", cmd_reverse, "reverse the points a transfer earned (fraud)", read=True
    )
    reverse.add_argument("tx_id")
    reverse.add_argument("--reason", required=True)
    maintain = add_command(
        cmds,
        "maintain",
        cmd_maintain,
        "daily job: tier review, termination after inactivity, card expiry",
        read=True,
    )
    maintain.add_argument("--today", type=parse_date, help="run as of this day (default: today)")
    report = add_command(cmds, "report", cmd_report, "reports", read=True)
    report.add_argument("name", choices=sorted(report_list.REPORTS))
    report.add_argument("--from", dest="start", type=parse_date)
    report.add_argument("--to", dest="end", type=parse_date)
    report.add_argument("--branch")
