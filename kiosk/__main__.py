"""`python -m kiosk [--data DIR] [--lang zh|en]`: the kiosk on a provisioned device folder
(`tapcard device provision`); the sim reader listens on DIR/sim.sock for
`tapcard device tap`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tapcard.cli_parser import OneLineParser
from tapcard.ui.environment import set_kivy_environment

if TYPE_CHECKING:  # Kivy is imported only after its environment is set
    from kiosk.app import KioskApp
    from tapcard.device.runtime import DeviceRuntime
    from tapcard.readers import CardReader
    from tapcard.ui.kiosk import ViewListener


def open_kiosk(
    data_dir: Path, lang: str, on_view: ViewListener | None = None
) -> tuple[KioskApp, DeviceRuntime, CardReader]:
    """(app, runtime, reader) of the kiosk on a provisioned folder; the runtime is started.
    The benchmark runs the kiosk through this too, so it measures the real thing."""
    from tapcard.device.launch import load_bundle, reader_config
    from tapcard.device.runtime import DeviceRuntime
    from tapcard.readers import open_reader

    bundle = load_bundle(data_dir)
    reader = open_reader(reader_config(bundle, data_dir))
    runtime = DeviceRuntime(bundle, data_dir, reader)
    runtime.start()
    from kiosk.app import KioskApp

    return KioskApp(runtime, reader, lang=lang, on_view=on_view), runtime, reader


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="tapcard kiosk", description=__doc__)
    parser.add_argument("--data", default=os.environ.get("TAPCARD_DEVICE_DATA", "data/device"))
    parser.add_argument("--lang", choices=["zh", "en"], default="zh")
    args = parser.parse_args(argv)
    set_kivy_environment()
    app, runtime, reader = open_kiosk(Path(args.data), args.lang)
    from tapcard.ui.kivyapp import stop_on_signals

    stop_on_signals(app)
    try:
        app.run()
    finally:
        runtime.stop()
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
