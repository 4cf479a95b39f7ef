"""A member QR code taken offline at a device: the signature check and the nonce saved
in the device's document store, before the member screen can show anything.

    python bench/member_code.py [--quick] [SCANS]    # 200 scans; --quick 50

Each scan is timed with the device's record of used codes empty and full (USED_MAX
nonces: the whole document is written again at each take, so a full record is the
slowest case), beside the peer measured in the same run: verifying a card's credential,
the check an offline tap of the card makes. The last line is one JSON object.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tapcard.cards import member_code
from tapcard.cards.credential import issue_credential, verify_credential
from tapcard.device import member_codes
from tapcard.device.docstore import DocStore
from tapcard.device.member_codes import MemberCodes, Taken
from tapcard.wire.keys import new_signing_key

NOW_MS = 1_790_000_000_000
CARD = "C100001"
QUICK_SCANS = 50


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p99_ms": round(p99 * 1000, 3)}


def _takes(record: int, scans: int) -> dict[str, float]:
    issuer = new_signing_key()
    with tempfile.TemporaryDirectory() as folder:
        docs = DocStore(Path(folder))
        if record:
            ends_ms = NOW_MS + member_code.LIFETIME_MS
            docs.put(member_codes.USED_DOC, {f"n{i:010d}": ends_ms for i in range(record)})
        book = MemberCodes([issuer.verify_key], docs.get, docs.put)
        samples = []
        for i in range(scans):
            text = member_code.sign(issuer, CARD, NOW_MS, (1 << 62 | i).to_bytes(8, "big"))
            start = time.perf_counter()
            taken = book.take(CARD, text, NOW_MS + 1_000)
            samples.append(time.perf_counter() - start)
            assert taken is Taken.OK
        docs.close()
    return _ms(samples)


def _peer(scans: int) -> dict[str, float]:
    issuer, uid = new_signing_key(), bytes.fromhex("04102030405060")
    raw = issue_credential(issuer, CARD, uid, dt.date(2026, 6, 10))
    samples = []
    for _ in range(scans):
        start = time.perf_counter()
        verify_credential(raw, uid, [issuer.verify_key])
        samples.append(time.perf_counter() - start)
    return _ms(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scans", nargs="?", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="50 scans per case")
    args = parser.parse_args()
    scans = QUICK_SCANS if args.quick else args.scans
    full = member_codes.USED_MAX - scans  # full once the scans are in
    peer = _peer(scans)
    empty, filled = _takes(0, scans), _takes(full, scans)
    print(f"scans: {scans} per case")
    rows = (
        ("peer, a card's credential verified", peer),
        ("code taken, record empty", empty),
        (f"code taken, record of {full:,}", filled),
    )
    for label, figures in rows:
        print(f"{label + ':':<38} p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms")
    result = {
        "bench": "member_code",
        "scans": scans,
        "record_full": full,
        "peer_verify": peer,
        "take_empty": empty,
        "take_full": filled,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
