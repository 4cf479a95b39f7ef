"""`tapcard hub ...`: the admin CLI. Read commands take --json; errors exit non-zero."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub import admin, reports
from hub.app import Hub, migrate
from hub.config import BrokerAddress, HubConfig
from hub.rulestore import parse_rules, store_rules
from tapcard.domain.model import CardKind
from tapcard.errors import TapcardError, ValidationError
from tapcard.wire.keys import new_signing_key, signing_key_text, verify_key_text

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> HubConfig:
    return HubConfig.from_env(args.data, args.db, args.broker)


def _open_hub(args: argparse.Namespace) -> Hub:
    """The hub for one command; `run` closes it (its database pool) when the command
    ends, so an in-process caller (tests, a wrapper) leaks no connections."""
    hub = Hub.open(_config(args))
    args.opened_hubs.append(hub)
    return hub


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or f"cli:{getpass.getuser()}")


def _print(args: argparse.Namespace, data: Any, columns: list[str] | None = None) -> None:
    if args.json:
        print(json.dumps(data, default=str, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if isinstance(data, list):
        if not data:
            console.print("(nothing)")
            return
        cols = columns or list(data[0])
        table = Table(*cols)
        for row in data:
            table.add_row(*(str(row.get(c, "")) for c in cols))
        console.print(table)
    elif isinstance(data, dict):
        table = Table("field", "value", show_header=False)
        for key, value in data.items():
            table.add_row(
                str(key),
                json.dumps(value, default=str, ensure_ascii=False)
                if isinstance(value, list | dict)
                else str(value),
            )
        console.print(table)
    else:
        console.print(str(data))


def _progress(args: argparse.Namespace, what: str) -> Any:
    """A spinner on stderr for long work, when a person is watching (not with --json)."""
    import contextlib

    from rich.console import Console

    console = Console(stderr=True)
    if args.json or not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(f"{what}...")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


# --- commands -------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    hub = Hub.init(_config(args))
    args.opened_hubs.append(hub)
    print(f"hub initialised in {hub.config.data_dir} ({hub.engine.url.render_as_string()})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    hub = Hub(_config(args))
    migrate(hub.engine)
    print("schema is current")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    # First of all: a stop asked for while we start up is honoured once we are up.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    from hub.broker import PrivateBroker
    from hub.service import HubService

    config = _config(args)
    if args.migrate:  # deploy: migrations on start (tapcard hub serve --migrate)
        from hub.deploy.commands import migrate_before_serve

        migrate_before_serve(config)
    hub = Hub.init(config) if args.init else Hub.open(config)
    args.opened_hubs.append(hub)
    broker = None
    address = config.broker
    if address is None:
        broker = PrivateBroker(config.data_dir / "broker", port=args.broker_port)
        broker.start()
        address = BrokerAddress(broker.host, broker.port)
        print(f"started a private mosquitto on {address}", flush=True)
    service = HubService(hub, address, worker=args.worker, shared=args.shared)
    if args.tls or os.environ.get("TAPCARD_BROKER_TLS") == "1":  # deploy: hub's client cert
        from hub.deploy.commands import use_tls

        use_tls(service, config)
    service.start()
    print(f"hub serving on {address}", flush=True)
    web = _start_web(hub, args)
    from tapcard import sdnotify  # deploy: Type=notify; the worker loop pings the watchdog

    sdnotify.ready(f"hub worker {args.worker} serving on {address}")
    stop.wait()
    sdnotify.stopping()
    if web is not None:
        web.stop()
    service.stop()
    if broker is not None:
        broker.stop()
    return 0


def _start_web(hub: Hub, args: argparse.Namespace) -> Any:
    """The dashboard in this process; a port in use is reported and ingest goes on."""
    if args.no_web:
        return None
    from hub.web.app import create_app
    from hub.web.server import WebServer, parse_address
    from hub.web.settings import WebSettings

    address = parse_address(args.web or os.environ.get("TAPCARD_WEB") or "127.0.0.1:8080")
    app = create_app(hub, WebSettings(cookie_secure=not args.web_insecure))
    try:
        server = WebServer(app, address.host, address.port)
        server.start()
    except TapcardError as exc:
        log.warning("dashboard not started: %s", exc)
        print(f"dashboard not started: {exc}", file=sys.stderr, flush=True)
        return None
    print(f"dashboard on {server.url}", flush=True)
    return server


def cmd_user_add(args: argparse.Namespace) -> int:
    from hub.web.auth import add_user

    hub = _open_hub(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
    with hub.transaction() as conn:
        add_user(conn, args.username, password, args.role, args.branch, _actor(args))
    print(f"user {args.username} ({args.role}) added")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from hub.web.auth import list_users

    hub = _open_hub(args)
    with hub.engine.connect() as conn:
        rows = list_users(conn)
    _print(args, rows)
    return 0


def cmd_branch_add(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        admin.add_branch(conn, args.id, args.name, args.chain, _actor(args))
    print(f"branch {args.id} added")
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    key = new_signing_key()
    with hub.transaction() as conn:
        admin.add_device(
            conn, args.id, args.branch, args.kind, verify_key_text(key.verify_key), _actor(args)
        )
    broker = args.connect or args.broker or os.environ.get("TAPCARD_BROKER") or "127.0.0.1:1883"
    bundle = {
        "device_id": args.id,
        "branch_id": args.branch,
        "kind": args.kind,
        "device_key": signing_key_text(key),
        "hub_public_key": verify_key_text(hub.secrets.hub_key.verify_key),
        "issuer_public_key": verify_key_text(hub.secrets.issuer_key.verify_key),
        "broker": str(BrokerAddress.parse(broker)),
    }
    from hub.deploy.provision import RELOAD_HINT, finish_bundle  # deploy: TLS cert, signature

    bundle, acl = finish_bundle(
        bundle, hub.engine, hub.config.data_dir, hub.secrets.hub_key, args.connect is not None
    )
    if acl is not None:
        print(f"broker ACL {acl.acl} now admits {args.id}; {RELOAD_HINT}", file=sys.stderr)
    text = json.dumps(bundle, indent=2)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        print(f"device {args.id} added; provisioning bundle written to {args.out}")
    else:
        print(text)
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub import db

    hub = _open_hub(args)
    with hub.engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(
                    db.devices.c.id,
                    db.devices.c.branch_id,
                    db.devices.c.kind,
                    db.devices.c.state,
                    db.devices.c.online,
                    db.devices.c.last_seen_ms,
                    db.devices.c.software_version,
                    db.devices.c.rules_version,
                    db.devices.c.seq_max,
                ).order_by(db.devices.c.id)
            )
        ]
    _print(args, rows)
    return 0


def cmd_device_revoke(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        admin.revoke_device(conn, args.id, _actor(args))
    print(f"device {args.id} revoked")
    from hub.deploy.provision import RELOAD_HINT, refresh_broker  # deploy: ACL and CRL

    if refresh_broker(hub.engine, hub.config.data_dir) is not None:
        print(f"removed from the broker ACL and put on the CRL; {RELOAD_HINT}")
    return 0


def cmd_member_add(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    new = admin.NewMember(
        name=args.name,
        phone=args.phone,
        id_number=args.id_number or "",
        address=args.address or "",
        birthday=args.birthday,
        tags=tuple(args.tag or ()),
        branch_id=args.branch,
    )
    with hub.transaction() as conn:
        member_id = admin.add_member(
            conn, new, hub.rules.latest(), hub.secrets.id_number_hash(new.id_number), _actor(args)
        )
    _print(args, {"member_id": member_id})
    return 0


def cmd_member_search(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.engine.connect() as conn:
        rows = admin.search_members(conn, args.text)
    _print(args, rows)
    return 0


def cmd_member_show(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.engine.connect() as conn:
        view = admin.member_view(conn, args.member_id)
        view["history"] = admin.member_history(conn, args.member_id)
    _print(args, view)
    return 0


def cmd_card_issue(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        card_id = admin.issue_card(
            conn,
            args.member_id,
            hub.rules.latest(),
            _actor(args),
            kind=CardKind(args.kind),
            uid=args.uid or "",
            card_id=args.card_id or "",
            daily_cents_max=args.daily_cents_max,
            daily_points_max=args.daily_points_max,
        )
    _print(args, {"card_id": card_id})
    return 0


def cmd_card_lost(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        version = admin.report_lost(conn, args.card_id, _actor(args))
    _print(args, {"card_id": args.card_id, "state": "lost", "denylist_version": version})
    return 0


def cmd_card_replace(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        new_id = admin.replace_card(
            conn,
            args.card_id,
            hub.rules.latest(),
            _actor(args),
            uid=args.uid or "",
            fee_paid_by=args.fee_paid_by,
        )
    _print(args, {"old_card": args.card_id, "new_card": new_id})
    return 0


def cmd_card_renew(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        expiry = admin.renew_card(
            conn, args.card_id, hub.rules.latest(), _actor(args), fee_paid_by=args.fee_paid_by
        )
    _print(args, {"card_id": args.card_id, "expires_on": expiry.isoformat()})
    return 0


def cmd_voucher_use(args: argparse.Namespace) -> int:
    """Accept a voucher once (a car park's exit system can call this): exit 2 with the
    reason when it is unknown or was used already."""
    hub = _open_hub(args)
    with hub.transaction() as conn:
        used = admin.use_voucher(conn, args.code, _actor(args))
    _print(args, used)
    return 0


def cmd_rules_load(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
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
    rules = parse_rules(data)
    from hub.deploy.compat import check_fleet_reads  # deploy: older devices must read it

    check_fleet_reads(hub.engine, rules, data, force=args.force)
    with hub.transaction() as conn:
        store_rules(conn, rules, _actor(args))
        admin.audit(conn, _actor(args), "rules.load", str(rules.version), {"name": rules.name})
    print(f"rule set {rules.version} ({rules.name}) loaded; the hub publishes it to devices")
    return 0


def cmd_rules_show(args: argparse.Namespace) -> int:
    import msgspec

    hub = _open_hub(args)
    version = args.version or hub.rules.latest_version()
    rules = hub.rules.get(version) if version else None
    if rules is None:
        raise ValidationError(f"rule set {version} is not loaded")
    print(json.dumps(json.loads(msgspec.json.encode(rules)), indent=2, ensure_ascii=False))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from hub.verify import verify_ledger

    hub = _open_hub(args)
    with _progress(args, "re-summing the journal"), hub.engine.connect() as conn:
        report = verify_ledger(conn)
    data = {
        "ok": report.ok,
        "transfers": report.transfers,
        "legs": report.legs,
        "accounts": report.accounts,
        "results": report.results,
        "errors": report.errors,
        "warnings": report.warnings,
    }
    _print(args, data)
    return 0 if report.ok else 1


def cmd_reverse(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    with hub.transaction() as conn:
        reversal = admin.reverse_points(
            conn, args.tx_id, _actor(args), args.reason, hub.rules.latest()
        )
    _print(args, {"reversed": args.tx_id, "reversal": reversal})
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from hub.maintenance import run_maintenance

    hub = _open_hub(args)
    with hub.transaction() as conn:
        report = run_maintenance(conn, hub.rules.latest(), args.today or admin.today_at(conn))
    _print(
        args,
        {
            "downgraded": [{"member": m, "from": a, "to": b} for m, a, b in report.downgraded],
            "kept": report.kept,
            "terminated": report.terminated,
            "expired_cards": report.expired_cards,
        },
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    hub = _open_hub(args)
    func = reports.REPORTS[args.name]
    kwargs: dict[str, Any] = {}
    if args.name in ("turnover", "points", "categories", "campaigns"):
        kwargs = {"start": args.start, "end": args.end}
    if args.name in ("turnover", "points", "categories"):
        kwargs["branch"] = args.branch
    with hub.engine.connect() as conn:
        rows = func(conn, **kwargs)
    _print(args, rows)
    return 0


# --- parser ---------------------------------------------------------------------------


def _add(sub: Any, name: str, handler: Handler, help_text: str, read: bool = False) -> Any:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler, json=False)
    if read:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def register(sub: Any) -> None:
    hub_parser = sub.add_parser("hub", help="the HQ server: ledger, rules, devices, reports")
    hub_parser.add_argument("--data", help="data folder (default ./data or $TAPCARD_DATA)")
    hub_parser.add_argument("--db", help="database URL (default SQLite in the data folder)")
    hub_parser.add_argument("--broker", help="broker host:port (default: start a private one)")
    hub_parser.add_argument("--actor", help="who is acting, for the audit trail")
    cmds = hub_parser.add_subparsers(dest="hub_command", required=True)
    _add(cmds, "init", cmd_init, "create the database, keys and system accounts")
    _add(cmds, "migrate", cmd_migrate, "bring the database schema up to date")
    serve = _add(cmds, "serve", cmd_serve, "run ingest, presence and config publishing")
    serve.add_argument("--worker", default="1", help="worker name when several share the load")
    serve.add_argument("--shared", action="store_true", help="use a shared subscription")
    serve.add_argument("--init", action="store_true", help="initialise the hub first if needed")
    serve.add_argument("--migrate", action="store_true", help="migrate the schema first")
    serve.add_argument("--tls", action="store_true", help="TLS to the broker (hub certificate)")
    serve.add_argument("--broker-port", type=int, help="port of the private broker")
    serve.add_argument(
        "--web",
        metavar="HOST:PORT",
        help="dashboard address (default $TAPCARD_WEB or 127.0.0.1:8080)",
    )
    serve.add_argument("--no-web", action="store_true", help="do not start the dashboard")
    serve.add_argument(
        "--web-insecure", action="store_true", help="session cookies without Secure (plain HTTP)"
    )
    user = cmds.add_parser("user", help="dashboard users").add_subparsers(
        dest="user_cmd", required=True
    )
    user_add = _add(user, "add", cmd_user_add, "add a dashboard user")
    user_add.add_argument("username")
    user_add.add_argument("--role", choices=["admin", "manager", "auditor"], required=True)
    user_add.add_argument("--branch", help="the branch a manager runs")
    user_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    _add(user, "list", cmd_user_list, "list dashboard users", read=True)
    _register_registry(cmds)
    _register_members(cmds)
    _register_staff(cmds)
    _register_ledger(cmds)
    from hub.deploy.commands import register as register_deploy

    register_deploy(cmds, _add, _config)  # broker-config, backup, restore


def cmd_staff_add(args: argparse.Namespace) -> int:
    from hub.staff import add_staff

    pin = sys.stdin.readline().strip() if args.pin_stdin else getpass.getpass("PIN: ")
    hub = _open_hub(args)
    with hub.transaction() as conn:
        add_staff(conn, args.id, args.name, args.branch, args.role, pin, _actor(args))
    print(f"staff {args.id} ({args.role}) added at branch {args.branch}")
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    from hub.staff import list_staff

    hub = _open_hub(args)
    with hub.engine.connect() as conn:
        rows = list_staff(conn)
    _print(args, rows)
    return 0


def cmd_staff_card(args: argparse.Namespace) -> int:
    from hub.staff import staff_card_credential, staff_card_id

    hub = _open_hub(args)
    with hub.transaction() as conn:
        credential = staff_card_credential(
            conn, hub.secrets.issuer_key, args.id, args.uid.lower(), args.card_key, _actor(args)
        )
    if args.out:
        Path(args.out).write_text(credential + "\n", encoding="utf-8")
        print(f"staff card {staff_card_id(args.id)}: credential written to {args.out}")
    else:
        print(credential)
    return 0


def _register_staff(cmds: Any) -> None:
    staff = cmds.add_parser("staff", help="staff who log in at terminals").add_subparsers(
        dest="staff_cmd", required=True
    )
    add = _add(staff, "add", cmd_staff_add, "add a staff member with a PIN")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument("--branch", required=True)
    add.add_argument("--role", choices=["cashier", "manager"], required=True)
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    _add(staff, "list", cmd_staff_list, "list staff", read=True)
    card = _add(staff, "card", cmd_staff_card, "sign a staff card credential for a chip")
    card.add_argument("id")
    card.add_argument("--uid", required=True, help="the chip's UID (hex)")
    card.add_argument("--card-key", default="", help="the chip's public key (hex), if any")
    card.add_argument("--out", help="write the credential (hex) here instead of printing it")


def _register_registry(cmds: Any) -> None:
    branch = cmds.add_parser("branch", help="branches").add_subparsers(
        dest="branch_cmd", required=True
    )
    add = _add(branch, "add", cmd_branch_add, "add a branch")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument("--chain", default="default")
    device = cmds.add_parser("device", help="devices").add_subparsers(
        dest="device_cmd", required=True
    )
    add = _add(device, "add", cmd_device_add, "register a device and write its provisioning bundle")
    add.add_argument("id")
    add.add_argument("--branch", required=True)
    add.add_argument("--kind", choices=["kiosk", "terminal"], required=True)
    add.add_argument("--out", help="write the bundle here (mode 0600) instead of printing it")
    add.add_argument(
        "--connect",
        metavar="HOST:PORT",
        help="the broker the device connects to, as it reaches it (a branch broker, say); "
        "default: the hub's broker, on the TLS listener when the hub runs a CA",
    )
    _add(device, "list", cmd_device_list, "list devices", read=True)
    revoke = _add(device, "revoke", cmd_device_revoke, "revoke a device: its messages are refused")
    revoke.add_argument("id")


def _register_members(cmds: Any) -> None:
    member = cmds.add_parser("member", help="members").add_subparsers(
        dest="member_cmd", required=True
    )
    add = _add(member, "add", cmd_member_add, "register a member", read=True)
    add.add_argument("--name", required=True)
    add.add_argument("--phone", required=True)
    add.add_argument("--id-number")
    add.add_argument("--address")
    add.add_argument("--birthday", type=_date)
    add.add_argument("--tag", action="append")
    add.add_argument("--branch")
    search = _add(
        member, "search", cmd_member_search, "search by phone, name, card or tag", read=True
    )
    search.add_argument("text")
    show = _add(
        member, "show", cmd_member_show, "a member's profile, cards, balances, history", read=True
    )
    show.add_argument("member_id", type=int)
    card = cmds.add_parser("card", help="cards").add_subparsers(dest="card_cmd", required=True)
    issue = _add(card, "issue", cmd_card_issue, "issue a card to a member", read=True)
    issue.add_argument("member_id", type=int)
    issue.add_argument("--kind", choices=[k.value for k in CardKind], default="member")
    issue.add_argument("--uid", help="chip UID (hex)")
    issue.add_argument("--card-id", help="card number (default: the next free one)")
    issue.add_argument("--daily-cents-max", type=int, help="own daily spending limit")
    issue.add_argument("--daily-points-max", type=int, help="own daily redemption limit")
    lost = _add(card, "lost", cmd_card_lost, "report a card lost: refused everywhere", read=True)
    lost.add_argument("card_id")
    replace = _add(
        card, "replace", cmd_card_replace, "replace a card; balances carry over", read=True
    )
    replace.add_argument("card_id")
    replace.add_argument("--uid")
    replace.add_argument("--fee-paid-by", choices=["cash", "stored_value"], default="cash")
    renew = _add(card, "renew", cmd_card_renew, "renew a card; reactivates it", read=True)
    renew.add_argument("card_id")
    renew.add_argument("--fee-paid-by", choices=["cash", "stored_value"], default="cash")
    voucher = cmds.add_parser("voucher", help="vouchers from redemptions").add_subparsers(
        dest="voucher_cmd", required=True
    )
    use = _add(voucher, "use", cmd_voucher_use, "accept a voucher, once", read=True)
    use.add_argument("code", help="as printed (XXXX-XXXX-XXXX) or as scanned")


def _register_ledger(cmds: Any) -> None:
    rules = cmds.add_parser("rules", help="rule sets").add_subparsers(
        dest="rules_cmd", required=True
    )
    load = _add(rules, "load", cmd_rules_load, "load a new rule set version (JSON)")
    load.add_argument("file", nargs="?")
    load.add_argument("--sample", action="store_true", help="load the built-in sample rules")
    load.add_argument("--force", action="store_true", help="load even if old devices can't read it")
    show = _add(rules, "show", cmd_rules_show, "print a rule set", read=True)
    show.add_argument("--version", type=int)
    _add(cmds, "verify", cmd_verify, "re-sum the journal and prove every balance", read=True)
    reverse = _add(
        cmds, "reverse", cmd_reverse, "reverse the points a transfer earned (fraud)", read=True
    )
    reverse.add_argument("tx_id")
    reverse.add_argument("--reason", required=True)
    maintain = _add(
        cmds,
        "maintain",
        cmd_maintain,
        "daily job: tier review, termination after inactivity, card expiry",
        read=True,
    )
    maintain.add_argument("--today", type=_date, help="run as of this day (default: today)")
    report = _add(cmds, "report", cmd_report, "reports", read=True)
    report.add_argument("name", choices=sorted(reports.REPORTS))
    report.add_argument("--from", dest="start", type=_date)
    report.add_argument("--to", dest="end", type=_date)
    report.add_argument("--branch")


def run(args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    args.opened_hubs = []
    try:
        return handler(args)
    except TapcardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for hub in args.opened_hubs:
            hub.close()
