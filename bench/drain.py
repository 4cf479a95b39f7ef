"""Drain benchmark: N intents queued offline on a device, then drained into the hub's
ledger (SQLite) over a real mosquitto. Target: 10,000 in <= 10 s.

    python bench/drain.py [--quick] [--count N]

The last line of output is one JSON object with `drain_10k_s` (the time for 10,000,
scaled from N when N differs), `drain_s`, `intents_per_s` and the queueing rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from bench._rig import make_rig, ready_runtime, wait_until
from hub import db
from hub.verify import verify_ledger
from tapcard.device.runtime import DeviceRuntime
from tapcard.domain.engine import SaleLine

FULL_COUNT = 10_000
QUICK_COUNT = 2_000
DRAIN_TIMEOUT_S = 120.0


def _applied(rig_hub: object) -> int:
    with rig_hub.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.results)).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    args = parser.parse_args()
    count = args.count or (QUICK_COUNT if args.quick else FULL_COUNT)
    with tempfile.TemporaryDirectory(prefix="tapcard-drain-") as tmp:
        rig = make_rig(Path(tmp))
        try:
            runtime = ready_runtime(rig)  # takes the rule set and caches the cards
            seen = [runtime.snapshot(card) for card in rig.cards]
            runtime.stop()
            offline = DeviceRuntime(rig.bundle, rig.device_dir)  # not started: no link
            started = time.perf_counter()
            for i in range(count):
                card = i % len(rig.cards)
                if i % 2:
                    receipt = offline.top_up(rig.cards[card], 100, seen=(seen[card][0], False))
                else:
                    line = SaleLine("grocery", 1_000 + i)
                    receipt = offline.purchase(rig.cards[card], [line], seen=(seen[card][0], False))
                assert receipt.accepted and receipt.offline, receipt
            queue_s = time.perf_counter() - started
            offline.store.close()
            offline.docs.close()
            started = time.perf_counter()
            runtime = DeviceRuntime(rig.bundle, rig.device_dir)
            runtime.start()
            wait_until(lambda: runtime.store.depth() == 0, DRAIN_TIMEOUT_S, "drain")
            drain_s = time.perf_counter() - started
            runtime.stop()
            applied = _applied(rig.hub)
            with rig.hub.engine.connect() as conn:
                report = verify_ledger(conn)
        finally:
            rig.close()
    assert applied == count, (applied, count)
    figures = {
        "count": count,
        "drain_s": round(drain_s, 3),
        "drain_10k_s": round(drain_s * FULL_COUNT / count, 3),
        "intents_per_s": round(count / drain_s, 1),
        "queue_per_s": round(count / queue_s, 1),
        "ledger_ok": report.ok,
        "quick": bool(args.quick),
    }
    print(
        f"{count} intents queued offline at {figures['queue_per_s']}/s, drained in {drain_s:.2f} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
