"""A device in its own process, for kill -9 tests: `python -m tests.device.device_proc
DATA_DIR COUNT CARD_ID` tops the card up by 1 cent until the device has queued COUNT
intents in all (across restarts), printing `queued N` every 100, then waits until the
outbox is drained and prints `drained`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tapcard.device.bundle import BUNDLE_FILE, Bundle
from tapcard.device.runtime import DeviceRuntime

READY_TIMEOUT_S = 20.0
DRAIN_TIMEOUT_S = 120.0


def main(data_dir: Path, count: int, card_id: str) -> int:
    runtime = DeviceRuntime(Bundle.load(data_dir / BUNDLE_FILE), data_dir)
    runtime.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while runtime.rules_version < 1 or not runtime.link.connected:
        if time.monotonic() > deadline:
            print("not ready", flush=True)
            return 1
        time.sleep(0.02)
    seen = runtime.snapshot(card_id)
    assert seen[1], "the hub did not answer the snapshot query"
    while (queued := runtime.store.seq()) < count:
        receipt = runtime.top_up(card_id, 1, seen=seen)
        assert receipt.accepted, receipt
        if receipt.seq % 100 == 0:
            print(f"queued {receipt.seq}", flush=True)
    print(f"queued {queued}", flush=True)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while runtime.store.depth() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    print("drained" if runtime.store.depth() == 0 else "stuck", flush=True)
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
