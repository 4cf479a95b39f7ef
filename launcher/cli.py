"""The `tapcard` command: dispatches to the programs, imports each only when used."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tapcard import __version__
from tapcard.cli_parser import OneLineParser

__all__ = ["OneLineParser", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tapcard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tapcard {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    from hub import cli as hub_cli

    hub_cli.register(sub)
    from tapcard.device import cli as device_cli

    device_cli.register(sub)
    from tapcard import deploy

    deploy.register(sub)
    for program, what in (("kiosk", "the member kiosk (Kivy)"), ("terminal", "the staff terminal")):
        app = sub.add_parser(program, help=what, add_help=False)
        app.add_argument("args", nargs=argparse.REMAINDER, help=f"see `tapcard {program} --help`")
    demo = sub.add_parser(
        "demo", help="a hub, a broker, a kiosk and a terminal on sim readers, seeded"
    )
    demo.add_argument("--data", help="data folder (default ./data/demo)")
    demo.add_argument(
        "--headless",
        action="store_true",
        help="no windows: a scripted device rings up sales and the balances are printed",
    )
    demo.add_argument(
        "--windows", action="store_true", help="open the kiosk and terminal windows anyway"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from tapcard.clock import clock_from_env
    from tapcard.errors import TapcardError

    try:
        clock_from_env()  # a mistyped shift is said once, here, not as a traceback later
    except TapcardError as exc:
        print(f"tapcard: {exc}", file=sys.stderr)
        return 2
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a program set up its own stop
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("kiosk", "terminal"):
        return _run_app(argv[0], argv[1:])  # the app parses its own options
    args = build_parser().parse_args(argv)
    level = (
        logging.DEBUG
        if args.verbose
        else logging.getLevelName(os.environ.get("TAPCARD_LOG", "WARNING").upper())
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "hub":
        from hub import cli as hub_cli

        return hub_cli.run(args)
    if args.command == "device":
        from tapcard.device import cli as device_cli

        return device_cli.run(args)
    if args.command == "deploy":
        from tapcard import deploy

        return deploy.run(args)
    if args.command == "demo":
        from launcher.demo import run_demo

        # The windowed demo provisions its devices through this same command.
        try:
            return run_demo(args.data, main, headless=args.headless, windows=args.windows)
        except OSError as exc:  # a --data folder that cannot be made or written
            print(
                f"error: cannot use {exc.filename or args.data}: {exc.strerror or exc}; give "
                "--data a folder you can write",
                file=sys.stderr,
            )
            return 2
    return 2


def _run_app(program: str, argv: list[str]) -> int:
    from tapcard.ui.environment import kivy_missing

    if (missing := kivy_missing(f"tapcard {program}")) is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    from tapcard.errors import TapcardError

    try:
        if program == "kiosk":
            from kiosk.__main__ import main as kiosk_main

            return kiosk_main(argv)
        from terminal.__main__ import main as terminal_main

        return terminal_main(argv)
    except TapcardError as exc:
        from tapcard.device.bundle import BundleError

        hint = ""
        if isinstance(exc, BundleError):  # the folder was never provisioned
            hint = "; give --data a provisioned folder (`tapcard device provision BUNDLE`)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
