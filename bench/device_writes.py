"""Bytes the device writes to its disk per transaction (SD-card wear on a Pi).

    python bench/device_writes.py [--count N] [--dir FOLDER]

Drives the real outbox store (SQLite, WAL, synchronous=FULL): each transaction is one
offline purchase-sized intent appended with its offline spend counters (one commit),
then marked done with the hub's result (one commit, results arrive in batches of
RESULT_BATCH as the link marks them). Measured from /proc/self/io around the loop:
`wchar` (bytes handed to write(2): the WAL frames and the checkpoints into the main
file) and `write_bytes` (what reached the block layer, when the kernel counts it for this
process). Put --dir on the device's data partition to measure that file system. The last
line is JSON with `bytes_per_tx` (= wchar per transaction, the conservative figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tapcard.device.intents import seal_intent
from tapcard.device.store import PAGE_BYTES, STORE_FILE, DeviceStore, Spent, StoreError
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key
from tests.clock import pinned_now_ms, pinned_today

COUNT_DEFAULT = 2_000
RESULT_BATCH = 20  # results per mark_done commit (the link marks a batch per turn)
DEPTH_MAX = 1_000_000


def _io() -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = int(value)
    return fields


def _sizes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("device.sqlite3*"))


def _op(i: int) -> m.AnyOp:
    lines = [SaleLine("grocery", 1_000 + i % 500)]
    return m.Purchase(lines=lines, payment=Payment.CASH, receipt_no=f"R{i}")


def run(folder: Path, count: int, page_size: int = 0) -> dict[str, float | int]:
    key = new_signing_key()
    if page_size:  # what a smaller page would save: set before the store turns on WAL
        import sqlite3

        with sqlite3.connect(folder / STORE_FILE) as conn:
            conn.execute(f"PRAGMA page_size={int(page_size)}")
            conn.execute("VACUUM")
        conn.close()
    store = DeviceStore(folder)
    day = pinned_today().isoformat()
    result_json = json.dumps({"accepted": True, "reason": 0, "message": ""})
    done_ids: list[str] = []
    before, size_before, started = _io(), _sizes(folder), time.perf_counter()
    for i in range(count):
        sealed = store.append(
            lambda seq, i=i: seal_intent(key, "kiosk-1", seq, "C0000001", _op(i), 1, offline=True),
            Spent(day, "C0000001", points=0, cents=100),
            DEPTH_MAX,
            lambda depth: StoreError(f"full at {depth}"),
        )
        done_ids.append(str(sealed.tx_id))
        if len(done_ids) == RESULT_BATCH:
            store.mark_done([(t, result_json) for t in done_ids], pinned_now_ms())
            done_ids.clear()
    if done_ids:
        store.mark_done([(t, result_json) for t in done_ids], pinned_now_ms())
    elapsed_s = time.perf_counter() - started
    after = _io()
    store.close()
    wchar = after["wchar"] - before["wchar"]
    block = after["write_bytes"] - before["write_bytes"]
    return {
        "count": count,
        "bytes_per_tx": round(wchar / count),
        "block_bytes_per_tx": round(block / count),
        "file_growth_bytes_per_tx": round((_sizes(folder) - size_before) / count),
        "commits_per_tx": round(1 + 1 / RESULT_BATCH, 3),
        "tx_per_s": round(count / elapsed_s),
        "page_size": page_size or PAGE_BYTES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=COUNT_DEFAULT)
    parser.add_argument("--page-size", type=int, default=0, help="try another SQLite page size")
    parser.add_argument("--dir", help="folder on the file system to measure (default: a temp dir)")
    args = parser.parse_args()
    if args.dir:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
        figures = run(folder, args.count, args.page_size)
    else:
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as temp:
            figures = run(Path(temp), args.count, args.page_size)
    print(
        f"{figures['count']} transactions: {figures['bytes_per_tx']} bytes written per tx "
        f"({figures['block_bytes_per_tx']} at the block layer), {figures['tx_per_s']} tx/s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
