"""`tapcard hub init | migrate | serve | user`: the hub itself and its dashboard users."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from hub.app import Hub, migrate
from hub.cli.common import actor_of, add_command, config_of, open_hub, print_data, secret
from hub.web.auth import Role
from tapcard.errors import TapcardError

log = logging.getLogger(__name__)


def cmd_init(args: argparse.Namespace) -> int:
    hub = Hub.init(config_of(args))
    args.opened_hubs.append(hub)
    print(f"hub initialised in {hub.config.data_dir} ({hub.engine.url.render_as_string()})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    hub = Hub(config_of(args))
    args.opened_hubs.append(hub)
    hub.reach()
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

    config = config_of(args)
    if args.migrate:  # deploy: migrations on start (tapcard hub serve --migrate)
        from hub.deploy.commands import migrate_before_serve

        migrate_before_serve(config)
    hub = Hub.init(config) if args.init else Hub.open(config)
    args.opened_hubs.append(hub)
    broker = None
    address = config.broker
    if address is None:
        broker = PrivateBroker(  # devices log in as themselves: hub.broker
            config.data_dir / "broker", port=args.broker_port, registry=hub.engine
        )
        broker.start()
        address = broker.hub_address
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
    from hub.web.notify_settings import from_env
    from hub.web.server import WebServer, parse_address
    from hub.web.settings import WebSettings

    address = parse_address(args.web or os.environ.get("TAPCARD_WEB") or "127.0.0.1:8080")
    # Where new alerts are sent: $TAPCARD_SMTP_* and $TAPCARD_WEBHOOK_* (hub.env).
    cfg = from_env(WebSettings(cookie_secure=not args.web_insecure))
    app = create_app(hub, cfg)
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

    hub = open_hub(args)
    password = secret(args.password_stdin, f"password for {args.username}", "--password-stdin")
    with hub.transaction() as conn:
        add_user(conn, args.username, password, args.role, args.branch, actor_of(args))
    print(f"user {args.username} ({args.role}) added")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from hub.web.auth import list_users

    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = list_users(conn)
    print_data(args, rows)
    return 0


def register(cmds: Any) -> None:
    add_command(cmds, "init", cmd_init, "create the database, keys and system accounts")
    add_command(cmds, "migrate", cmd_migrate, "bring the database schema up to date")
    serve = add_command(cmds, "serve", cmd_serve, "run ingest, presence and config publishing")
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
    user_add = add_command(user, "add", cmd_user_add, "add a dashboard user")
    user_add.add_argument("username")
    user_add.add_argument("--role", choices=[r.value for r in Role], required=True)
    user_add.add_argument("--branch", help="the branch a manager runs")
    user_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    add_command(user, "list", cmd_user_list, "list dashboard users", read=True)
