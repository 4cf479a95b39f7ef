"""`python -m terminal [--data DIR] [--lang zh|en] [--touch-keyboard]`: the counter
terminal on a provisioned device folder (`tapcard device provision`); the sim reader
listens on DIR/sim.sock for `tapcard device tap`. `--touch-keyboard` (or
TAPCARD_TOUCH_KEYBOARD=1) docks an on-screen keyboard for a counter with only a
touchscreen."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tapcard.cli_parser import OneLineParser
from tapcard.ui.environment import set_kivy_environment

if TYPE_CHECKING:
    from tapcard.receipts.printer import Printer


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="tapcard terminal", description=__doc__)
    parser.add_argument("--data", default=os.environ.get("TAPCARD_DEVICE_DATA", "data/device"))
    parser.add_argument("--lang", choices=["zh", "en"], default="zh")
    parser.add_argument(
        "--touch-keyboard",
        action="store_true",
        default=os.environ.get("TAPCARD_TOUCH_KEYBOARD") == "1",
        help="an on-screen keyboard docked at the bottom (a counter without a keyboard)",
    )
    args = parser.parse_args(argv)
    set_kivy_environment()
    from tapcard.device.launch import load_bundle, reader_config
    from tapcard.device.runtime import DeviceRuntime
    from tapcard.readers import open_reader

    data_dir = Path(args.data)
    bundle = load_bundle(data_dir)
    reader = open_reader(reader_config(bundle, data_dir))
    runtime = DeviceRuntime(bundle, data_dir, reader)
    runtime.start()
    from terminal.app import TerminalApp
    from terminal.staff_link import StaffLink

    try:
        link = StaffLink(bundle)
        link.start()
        from tapcard.ui.kivyapp import stop_on_signals

        app = TerminalApp(
            runtime,
            link,
            reader,
            lang=args.lang,
            touch_keyboard=args.touch_keyboard,
            printer=_printer(data_dir),
        )
        stop_on_signals(app)
        app.run()
        link.stop()
    finally:
        runtime.stop()
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _printer(data_dir: Path) -> Printer | None:
    """The receipt printer of DATA/printer.json; a bad file is reported and the terminal
    runs on without printing (a printer never stops the counter)."""
    from tapcard.receipts.printer import PrinterError, load_printer

    try:
        return load_printer(data_dir)
    except PrinterError as exc:
        print(f"tapcard terminal: no receipt printer: {exc}", file=sys.stderr)
        return None
