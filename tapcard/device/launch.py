"""Opening a provisioned device folder: its bundle, its card reader and its runtime.

Shared by every program that runs on a device (`tapcard device run`, the kiosk, the
terminal), so they read the same bundle the same way.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final

from tapcard.device.bundle import BUNDLE_FILE, Bundle
from tapcard.readers import Backend, ReaderConfig

SIM_SOCKET_FILE: Final = "sim.sock"  # where `tapcard device tap` finds a sim reader


def load_bundle(data_dir: Path) -> Bundle:
    return Bundle.load(data_dir / BUNDLE_FILE)


def reader_config(bundle: Bundle, data_dir: Path) -> ReaderConfig:
    """The bundle's reader; a sim reader listens in the device folder unless told where."""
    config = bundle.reader
    if config.backend is Backend.SIM and not config.sim_socket_path:
        config = replace(config, sim_socket_path=str(data_dir / SIM_SOCKET_FILE))
    return config
