"""The voucher expiry job: N unused parking vouchers (10 per member) whose points come
back, expired in one run on SQLite; then the second run, which finds nothing.

    python bench/voucher_expiry.py [--quick] [VOUCHERS]    # 20,000; --quick 2,000

Prints the count, the points given back, the time of each run and the peak RSS, beside
the peer measured in the same run before the job: one bare SELECT of the due vouchers'
rows, the least any expiry must read. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import admin
from hub.admin.vouchers import expire_vouchers
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from tapcard.clock import ManualClock
from tapcard.domain.ledger import adjustment_legs
from tapcard.domain.model import Asset, TxKind
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.hub.support import Device

VOUCHERS_PER_MEMBER = 10
QUICK_VOUCHERS = 2_000
PEER_SQL = (
    "SELECT code, tx_id, item, units, member_id, points_back FROM vouchers "
    "WHERE used_ms IS NULL AND expired_ms IS NULL AND expires_ms <= ?"
)
BATCH_INTENTS = 500
DAY_MS = 86_400_000
START_MS = 1_781_070_000_000  # a plain Wednesday, 2026-06-10 06:00 UTC


def _setup(hub: Hub, clock: ManualClock, members: int) -> None:
    sample = parse_rules(sample_rules_bytes())
    catalog = tuple(
        dataclasses.replace(i, valid_days=1, points_back_on_expiry=True)
        if i.code == "PARK-HOUR"
        else i
        for i in sample.catalog
    )
    with hub.transaction() as conn:
        store_rules(conn, dataclasses.replace(sample, catalog=catalog), "bench")
    key = new_signing_key()
    rules = hub.rules.latest()
    cards = []
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-1", "Shop", "chain", "bench")
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "b")
        for i in range(members):
            new = admin.NewMember(name=f"M{i}", phone=f"1390{i:07d}", branch_id="shop-1")
            member = admin.add_member(conn, new, rules, "", "bench")
            cards.append(admin.issue_card(conn, member, rules, "bench"))
            legs = adjustment_legs(member, Asset.POINTS, 100 * VOUCHERS_PER_MEMBER)
            admin.book_admin(conn, TxKind.ADJUSTMENT, member, legs, "bench", "points", rules=rules)
    device = Device("till-1", key)
    intents = [
        device.incoming(card, m.Redeem(item="PARK-HOUR", units=1))
        for card in cards
        for _ in range(VOUCHERS_PER_MEMBER)
    ]
    for start in range(0, len(intents), BATCH_INTENTS):
        results = hub.ledger.apply_batch(intents[start : start + BATCH_INTENTS])
        assert all(r.accepted for r in results), results[0].message
    clock.advance(DAY_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vouchers", type=int, nargs="?", default=20_000)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_VOUCHERS:,} vouchers")
    args = parser.parse_args()
    count = QUICK_VOUCHERS if args.quick else args.vouchers
    folder = Path(tempfile.mkdtemp())
    clock = ManualClock(START_MS)
    hub = Hub.init(HubConfig(folder / "hub", f"sqlite:///{folder / 'hub.sqlite3'}", None), clock)
    try:
        _setup(hub, clock, count // VOUCHERS_PER_MEMBER)
        started = time.perf_counter()
        with hub.engine.connect() as conn:
            due = conn.exec_driver_sql(PEER_SQL, (clock.now_ms(),)).all()
        peer_s = time.perf_counter() - started
        started = time.perf_counter()
        with hub.transaction() as conn:
            first = expire_vouchers(conn, hub.rules.latest())
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        with hub.transaction() as conn:
            second = expire_vouchers(conn, hub.rules.latest())
        second_s = time.perf_counter() - started
    finally:
        hub.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"{len(first.expired)} vouchers expired, {sum(first.points_back.values())} points back "
        f"in {first_s:.2f} s ({len(first.expired) / first_s:.0f}/s); second run "
        f"{len(second.expired)} in {second_s:.3f} s; peak RSS {rss_mb} MB"
    )
    print(f"peer: one SELECT of the {len(due)} due vouchers in {peer_s:.3f} s")
    figures = {
        "bench": "voucher_expiry",
        "vouchers": len(first.expired),
        "points_back": sum(first.points_back.values()),
        "job_s": round(first_s, 3),
        "second_run_s": round(second_s, 4),
        "peer_select_s": round(peer_s, 4),
        "peak_rss_mb": rss_mb,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
