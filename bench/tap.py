"""Tap benchmark: card present to decision ready on the simulated reader.

For each tap: the card is put on the sim reader, then timed: wait for the card, read
the credential, verify the issuer signature and the card's challenge answer, get the
snapshot (from the hub over MQTT 5 request/response online; from the cache offline)
and run the offline/online policy for a redemption. pcsc and nfc are not measured here
(their emulators live in tests/readers/conftest.py as pytest fixtures).

    python bench/tap.py [--quick] [--taps N]

The last line is one JSON object with `sim_online_p50_ms`, `sim_online_p99_ms`,
`sim_offline_p50_ms`, `sim_offline_p99_ms`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._rig import make_rig, ready_runtime, wait_until
from tapcard.device.runtime import DeviceRuntime
from tapcard.readers.sim import SimReader, make_sim_card
from tapcard.wire import messages as m

FULL_TAPS = 1_000
QUICK_TAPS = 100
MASTER = b"\x42" * 32


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def _taps(runtime: DeviceRuntime, reader: SimReader, cards: list[object], n: int) -> list[float]:
    op = m.Redeem(item="PARK-HOUR", units=1)
    samples = []
    for i in range(n):
        reader.tap(cards[i % len(cards)])  # type: ignore[arg-type]
        started = time.perf_counter()
        card_id = runtime.read_card(1_000)
        assert card_id is not None
        seen = runtime.snapshot(card_id)
        verdict = runtime.check(card_id, op, seen)
        samples.append((time.perf_counter() - started) * 1000)
        assert verdict.reason is not None
        reader.remove()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--taps", type=int)
    args = parser.parse_args()
    n = args.taps or (QUICK_TAPS if args.quick else FULL_TAPS)
    figures: dict[str, object] = {"taps": n, "quick": bool(args.quick)}
    with tempfile.TemporaryDirectory(prefix="tapcard-tap-") as tmp:
        rig = make_rig(Path(tmp), cards=10)
        reader = SimReader()
        issuer = rig.hub.secrets.issuer_key
        cards = [
            make_sim_card(issuer, MASTER, card, bytes([4, i, 2, 3, 4, 5, 6]), dt.date.today())
            for i, card in enumerate(rig.cards)
        ]
        runtime = ready_runtime(rig, reader=reader)
        try:
            for mode in ("online", "offline"):
                if mode == "offline":
                    rig.broker.stop()
                    wait_until(lambda: not runtime.link.connected, 20, "link down")
                samples = _taps(runtime, reader, cards, n)
                figures[f"sim_{mode}_p50_ms"] = round(statistics.median(samples), 3)
                figures[f"sim_{mode}_p99_ms"] = round(_percentile(samples, 99), 3)
                print(
                    f"sim {mode}: p50 {figures[f'sim_{mode}_p50_ms']} ms, "
                    f"p99 {figures[f'sim_{mode}_p99_ms']} ms over {n} taps"
                )
        finally:
            runtime.stop()
            reader.close()
            rig.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
