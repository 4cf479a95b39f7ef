"""What sealing members' name, phone and address costs (PIPL, hub/privacy_keys.py).

A fresh SQLite hub gets N members as plain rows (as a hub before migration 0031 held
them, with their blind indexes), then the same reads are timed before and after the
seal: the dashboard's newest-members page (50 rows), a member's profile
(`member_view`), a lookup by the whole phone (blind index) and a full-name lookup.
Also timed: the seal of all N rows (the migration's step, and a key rotation's) and
one value's seal and open.

    python bench/privacy_seal.py            # 100,000 members
    python bench/privacy_seal.py --quick    # 10,000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import admin, db, privacy_keys, privacy_seal
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.web import member_list
from tapcard.samples import sample_rules_bytes

FULL_N: Final = 100_000
QUICK_N: Final = 10_000
READS: Final = 300
DAY: Final = dt.date(2026, 1, 5)


def _plain_rows(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        name, phone = f"会员{i:07d}", f"139{i:08d}"
        rows.append(
            {
                "id": i,
                "name": name,
                "phone": phone,
                "address": f"上海市徐汇区漕溪北路 {i} 号",
                "id_number_masked": "",
                "id_number_hash": "",
                "phone_key": privacy_keys.phone_index(phone),
                **privacy_keys.indexes(name, phone),
                "branch_id": "shop-1",
                "tier": "regular",
                "joined_on": DAY,
                "period_start": DAY,
                "period_growth": 0,
                "last_activity_on": DAY,
                "state": "active",
            }
        )
    return rows


def _per_call_us(fn: Callable[[int], object], n: int) -> float:
    picks = [random.Random(7 + k).randint(1, n) for k in range(READS)]
    start = time.perf_counter()
    for pick in picks:
        fn(pick)
    return round((time.perf_counter() - start) / READS * 1e6, 1)


def _reads(hub: Hub, n: int) -> dict[str, float]:
    with hub.engine.connect() as conn:
        return {
            "newest_page_us": _per_call_us(lambda _i: member_list.newest_page(conn, None, 1), n),
            "member_view_us": _per_call_us(lambda i: admin.member_view(conn, i), n),
            "phone_lookup_us": _per_call_us(lambda i: admin.search_members(conn, f"139{i:08d}"), n),
            "name_lookup_us": _per_call_us(lambda i: admin.search_members(conn, f"会员{i:07d}"), n),
        }


def _value_us() -> dict[str, float]:
    text, rounds = "上海市徐汇区漕溪北路 88 号", 20_000
    start = time.perf_counter()
    sealed = [privacy_keys.seal(text, "address") for _ in range(rounds)]
    seal_us = (time.perf_counter() - start) / rounds * 1e6
    start = time.perf_counter()
    for value in sealed:
        privacy_keys.open_value(value, "address")
    open_us = (time.perf_counter() - start) / rounds * 1e6
    return {"seal_us": round(seal_us, 1), "open_us": round(open_us, 1)}


def run(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        config = HubConfig(Path(folder) / "hub", f"sqlite:///{folder}/hub.sqlite3", None)
        hub = Hub.init(config)
        with hub.transaction() as conn:
            store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
            admin.add_branch(conn, "shop-1", "Shop one", "chain", "bench")
            rows = _plain_rows(n)
            for start in range(0, n, 10_000):
                db.bulk_insert(conn, db.members, rows[start : start + 10_000])
        before = _reads(hub, n)
        began = time.perf_counter()
        with hub.transaction() as conn:
            sealed = privacy_seal.seal_rows(conn)
        seal_s = time.perf_counter() - began
        after = _reads(hub, n)
        hub.close()
    return {
        "members": n,
        "before": before,
        "after": after,
        "seal_all_s": round(seal_s, 2),
        "sealed": sealed.rows,
        "seal_rows_per_s": round(sealed.rows / seal_s),
        "value": _value_us(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run(QUICK_N if args.quick else FULL_N)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
