"""The kiosk's word on a wash bay it is paired with: which bay the hub started.

The kiosk never starts a bay. When it sells a car wash and the registry pairs it with a
bay, the hub consumes the voucher for that bay and sends the signed start to both; the
runtime keeps the latest in its `bay_start` document (tapcard/device/runtime.py). The
result screen waits for it briefly, off the UI thread, and says "Bay 2 is starting";
a kiosk with no bay just never gets one.
"""

from __future__ import annotations

import time
from typing import Final

from tapcard.device.port import DevicePort

BAY_START_DOC: Final = "bay_start"  # tapcard.device.runtime.BAY_START_DOC
BAY_WAIT_S: Final = 2.0  # the hub sends the start right after the redemption's result
BAY_POLL_S: Final = 0.05


def bay_started(port: DevicePort, voucher: str, wait_s: float = BAY_WAIT_S) -> str:
    """The label of the bay the hub started for this voucher ("2"), or "" when no start
    came within `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        doc = port.load_doc(BAY_START_DOC)
        if isinstance(doc, dict) and doc.get("voucher") == voucher:
            return str(doc.get("label") or doc.get("bay") or "")
        if time.monotonic() >= deadline:
            return ""
        time.sleep(BAY_POLL_S)
