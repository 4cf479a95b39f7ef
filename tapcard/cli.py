"""The `tapcard` command: dispatches to the programs, imports each only when used."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tapcard import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tapcard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tapcard {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    from hub import cli as hub_cli

    hub_cli.register(sub)
    from tapcard.device import cli as device_cli

    device_cli.register(sub)
    demo = sub.add_parser("demo", help="run a hub, a broker and a scripted device, print balances")
    demo.add_argument("--data", help="data folder (default ./data/demo)")
    demo.set_defaults(program="demo")
    return parser


def main(argv: list[str] | None = None) -> int:
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
    if args.command == "demo":
        from tapcard.demo import run_demo

        return run_demo(args.data)
    return 2


if __name__ == "__main__":
    sys.exit(main())
