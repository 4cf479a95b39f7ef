"""`python -m terminal [--data DIR] [--lang zh|en]`: the counter terminal on a provisioned
device folder (`tapcard device provision`); the sim reader listens on DIR/sim.sock for
`tapcard device tap`."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="terminal", description=__doc__)
    parser.add_argument("--data", default=os.environ.get("TAPCARD_DEVICE_DATA", "data/device"))
    parser.add_argument("--lang", choices=["zh", "en"], default="zh")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Kivy probes clipboard tools (xclip, xsel) and prints their absence as tracebacks;
    # a touch kiosk has no clipboard. Its log still goes to the file under KIVY_HOME.
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
    if os.environ.get("TAPCARD_LOG", "").upper() != "DEBUG":
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    from tapcard.device.bundle import BUNDLE_FILE, Bundle
    from tapcard.device.runtime import DeviceRuntime
    from tapcard.readers import Backend, open_reader

    data_dir = Path(args.data)
    bundle = Bundle.load(data_dir / BUNDLE_FILE)
    config = bundle.reader
    if config.backend is Backend.SIM and not config.sim_socket_path:
        config = replace(config, sim_socket_path=str(data_dir / "sim.sock"))
    reader = open_reader(config)
    runtime = DeviceRuntime(bundle, data_dir, reader)
    runtime.start()
    from terminal.app import TerminalApp
    from terminal.staff_link import StaffLink

    try:
        link = StaffLink(bundle)
        link.start()
        TerminalApp(runtime, link, reader, lang=args.lang).run()
        link.stop()
    finally:
        runtime.stop()
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
