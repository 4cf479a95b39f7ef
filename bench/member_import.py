"""Member import throughput: a legacy system's CSV of N members into a fresh SQLite hub.

Each row has a name, a phone, a card number, a tier, points and (every other row) a
stored-value balance, so most members get an opening transfer. Timed: the dry run (the
check pass alone) and the import (check, then write, in one transaction, reconciled),
then `verify` over the result. The peer, in the same run, is the floor of any import
of this file: Python's csv reader over the same file and one SQLite executemany of its
rows into a plain table, in one transaction, with the same synchronous setting.

    python bench/member_import.py            # 1,000,000 members
    python bench/member_import.py --quick    # 50,000
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._child import peak_rss_mib
from hub import admin, member_import
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.verify import verify_ledger
from tapcard.samples import sample_rules_bytes

FULL_N: Final = 1_000_000
QUICK_N: Final = 50_000
TARGET_S: Final = 300.0  # issue: a million members in at most 5 minutes
TIERS: Final = ("普通", "银卡", "金卡")
TIER_MAP: Final = {"普通": "regular", "银卡": "silver", "金卡": "gold"}


def write_file(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["会员姓名", "手机号", "会员卡号", "会员等级", "可用积分", "储值余额", "门店"])
        for i in range(n):
            balance = f"{(i % 500) + 1}.{i % 100:02d}" if i % 2 else ""
            out.writerow(
                [f"会员{i}", f"139{i:08d}", f"L{i:07d}", TIERS[i % 3], i % 5000, balance, "shop-1"]
            )


def peer_s(path: Path, folder: Path) -> float:
    """csv.reader and one executemany into a plain table: the floor of this import."""
    db = sqlite3.connect(folder / "peer.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE m (name, phone, card, tier, points, balance, branch)")
    start = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        next(rows)
        db.execute("BEGIN")
        db.executemany("INSERT INTO m VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_N:,} members")
    parser.add_argument("--n", type=int, help="members in the file")
    args = parser.parse_args()
    n = args.n or (QUICK_N if args.quick else FULL_N)
    with tempfile.TemporaryDirectory(prefix="tapcard-import-") as tmp:
        folder = Path(tmp)
        path = folder / "legacy.csv"
        write_file(path, n)
        hub = Hub.init(HubConfig(folder / "hub", f"sqlite:///{folder / 'hub.sqlite3'}", None))
        with hub.transaction() as conn:
            store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
            admin.add_branch(conn, "shop-1", "Shop one", "chain", "bench")
        rules, id_hash = hub.rules.latest(), hub.secrets.id_number_hash
        start = time.perf_counter()
        with hub.engine.connect() as conn:
            dry = member_import.check_file(conn, path, rules, id_hash, TIER_MAP)
        check_s = time.perf_counter() - start
        assert dry.refused_count == 0, dry.refused[:3]
        start = time.perf_counter()
        with hub.transaction() as conn:
            report = member_import.import_file(
                conn, path, rules, id_hash, "bench", tier_map=TIER_MAP
            )
        import_s = time.perf_counter() - start
        peak = peak_rss_mib()
        assert report.written and report.members == n
        start = time.perf_counter()
        with hub.engine.connect() as conn:
            verified = verify_ledger(conn)
        verify_s = time.perf_counter() - start
        hub.close()
        floor_s = peer_s(path, folder)
    scaled = import_s * FULL_N / n
    print(f"members {n:,}: {report.transfers:,} opening transfers")
    print(f"dry run (check pass)   {check_s:8.1f} s  {n / check_s:9,.0f} rows/s")
    print(f"import (check + write) {import_s:8.1f} s  {n / import_s:9,.0f} rows/s")
    print(f"  at 1,000,000 members {scaled:8.1f} s  (target <= {TARGET_S:.0f} s)")
    print(f"verify afterwards      {verify_s:8.1f} s  ok={verified.ok}")
    print(f"peak RSS               {peak:8.1f} MiB")
    print(f"peer: csv + executemany {floor_s:7.1f} s  {n / floor_s:9,.0f} rows/s")
    print(
        json.dumps(
            {
                "members": n,
                "check_s": round(check_s, 2),
                "import_s": round(import_s, 2),
                "import_rows_per_s": round(n / import_s),
                "import_s_per_million": round(scaled, 1),
                "verify_s": round(verify_s, 2),
                "verify_ok": verified.ok,
                "peak_rss_mib": round(peak, 1),
                "peer_s": round(floor_s, 2),
                "import_over_peer": round(import_s / floor_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
