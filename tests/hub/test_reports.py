"""Reports over the journal give exact figures, by branch and by day.

Scenario (sample rules, members who joined in 2025, so no welcome discount):

    2026-03-10  shop-1 kiosk-1 #1  card 0 buys 300.00 of grocery: spend-200-get-20
                                   takes 20.00 off (and the March tote bag is handed
                                   over): pays 280.00, earns 280 points
                shop-1 kiosk-1 #2  card 1 buys 50.00 group-buy (earns nothing) and
                                   10.00 grocery: pays 60.00, earns 10 points
    2026-03-11  shop-1 kiosk-1 #3  card 0 redeems 2 hours of parking: 200 points
                shop-1 kiosk-1 #4  card 0 spends 15.00 of stored value offline that
                                   it does not have: applied, recorded as an exception
                shop-2 kiosk-2 #1  card 1 buys 26.00 of fuel: earns 26 points
                shop-2 kiosk-2 #3  card 1 tops up 100.00 (#2 never arrived)

and, at HQ, a third card issued to member 1 and reported lost.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hub import admin, db, report_list, reports
from tapcard.clock import ManualClock
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.clock import pinned_utc_today
from tests.conftest import Seeded
from tests.hub.support import Device, ms_of, purchase, to_incoming

DAY_1 = dt.date(2026, 3, 10)
DAY_2 = dt.date(2026, 3, 11)
JOINED_ON = dt.date(2025, 1, 1)
GAPS_ELAPSED_S_MAX = 2.0  # a few rows: a report that walked the numbers would never end


@pytest.fixture
def shops(seeded_sqlite: Seeded) -> Iterator[tuple[Seeded, list[m.TxResult]]]:
    seeded = seeded_sqlite
    hub = seeded.hub
    key_2 = new_signing_key()
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-2", "Shop two", "chain", "test")
        admin.add_device(
            conn, "kiosk-2", "shop-2", "terminal", verify_key_text(key_2.verify_key), "test"
        )
        conn.execute(db.members.update().values(joined_on=JOINED_ON, period_start=JOINED_ON))
        lost = admin.issue_card(conn, seeded.members[1], hub.rules.latest(), "test")
        admin.report_lost(conn, lost, "test")
    kiosk_1 = Device("kiosk-1", seeded.device_key)
    kiosk_2 = Device("kiosk-2", key_2)
    card_0, card_1 = seeded.cards
    mixed = m.Purchase(
        lines=[SaleLine("group_buy", 5_000), SaleLine("grocery", 1_000)], payment=Payment.CASH
    )
    # The hub dates intents by its own clock on arrival: each day's batch arrives that day.
    hub.ledger.clock = ManualClock(ms_of(DAY_1))
    results = hub.ledger.apply_batch(
        [
            kiosk_1.incoming(card_0, purchase(30_000)),
            kiosk_1.incoming(card_1, mixed),
        ]
    )
    hub.ledger.clock = ManualClock(ms_of(DAY_2))
    results += hub.ledger.apply_batch(
        [
            kiosk_1.incoming(card_0, m.Redeem(item="PARK-HOUR", units=2)),
            kiosk_1.incoming(
                card_0, m.Spend(amount_cents=1_500), created_ms=ms_of(DAY_2), offline=True
            ),
        ]
    )
    fuel = kiosk_2.sealed(card_1, purchase(2_600, category="fuel"))
    kiosk_2.seq += 1  # seq 2 is lost on the way
    topup = kiosk_2.sealed(card_1, m.TopUp(amount_cents=10_000))
    results += hub.ledger.apply_batch([to_incoming(fuel, "shop-2"), to_incoming(topup, "shop-2")])
    assert [r.accepted for r in results] == [True] * 6
    yield seeded, results


def run(seeded: Seeded, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    with seeded.hub.engine.connect() as conn:
        rows: list[dict[str, Any]] = report_list.REPORTS[name](conn, **kwargs)
    return rows


def test_the_scenario_books_what_the_docstring_says(
    shops: tuple[Seeded, list[m.TxResult]],
) -> None:
    _, results = shops
    assert [(r.net_cents, r.discount_cents, r.points_earned, r.points_spent) for r in results] == [
        (28_000, 2_000, 280, 0),
        (6_000, 0, 10, 0),
        (0, 0, 0, 200),
        (1_500, 0, 0, 0),
        (2_600, 0, 26, 0),
        (10_000, 0, 0, 0),
    ]
    assert [r.offline_exception for r in results] == [False, False, False, True, False, False]


def test_turnover_by_branch_and_day(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = shops
    assert run(seeded, "turnover") == [
        {"branch": "shop-1", "day": "2026-03-10", "net_cents": 34_000, "orders": 2},
        {"branch": "shop-1", "day": "2026-03-11", "net_cents": 1_500, "orders": 1},
        {"branch": "shop-2", "day": "2026-03-11", "net_cents": 2_600, "orders": 1},
    ]
    assert run(seeded, "turnover", branch="shop-2") == [
        {"branch": "shop-2", "day": "2026-03-11", "net_cents": 2_600, "orders": 1},
    ]
    assert run(seeded, "turnover", start=DAY_2, end=DAY_2) == [
        {"branch": "shop-1", "day": "2026-03-11", "net_cents": 1_500, "orders": 1},
        {"branch": "shop-2", "day": "2026-03-11", "net_cents": 2_600, "orders": 1},
    ]
    assert run(seeded, "turnover", end=DAY_1) == [
        {"branch": "shop-1", "day": "2026-03-10", "net_cents": 34_000, "orders": 2},
    ]
    assert run(seeded, "turnover", start=DAY_2 + dt.timedelta(days=1)) == []


def test_points_issued_and_redeemed_by_day(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = shops
    assert run(seeded, "points") == [
        {"day": "2026-03-10", "issued": 290, "redeemed": 0},
        {"day": "2026-03-11", "issued": 26, "redeemed": 200},
    ]
    assert run(seeded, "points", start=DAY_2) == [
        {"day": "2026-03-11", "issued": 26, "redeemed": 200},
    ]


def test_points_issued_are_net_of_a_reversal(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, results = shops
    with seeded.hub.transaction() as conn:
        admin.reverse_points(
            conn, str(results[1].tx_id), "test", "fraud", seeded.hub.rules.latest()
        )
    # The reversal is booked today, at HQ: a day of its own with -10 issued.
    rows = run(seeded, "points")
    assert rows[:2] == [
        {"day": "2026-03-10", "issued": 290, "redeemed": 0},
        {"day": "2026-03-11", "issued": 26, "redeemed": 200},
    ]
    assert rows[2:] == [{"day": pinned_utc_today().isoformat(), "issued": -10,
                         "redeemed": 0}]  # fmt: skip


def test_cards_by_tier_and_state(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = shops
    assert run(seeded, "cards") == [
        {"tier": "regular", "state": "active", "cards": 2},
        {"tier": "regular", "state": "lost", "cards": 1},
    ]


def test_sales_by_category(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = shops
    assert run(seeded, "categories") == [
        {"category": "grocery", "quantity": 2, "gross_cents": 31_000},
        {"category": "group_buy", "quantity": 1, "gross_cents": 5_000},
        {"category": "fuel", "quantity": 1, "gross_cents": 2_600},
    ]
    assert run(seeded, "categories", branch="shop-2") == [
        {"category": "fuel", "quantity": 1, "gross_cents": 2_600},
    ]
    assert run(seeded, "categories", start=DAY_2) == [
        {"category": "fuel", "quantity": 1, "gross_cents": 2_600},
    ]


def test_campaign_effect(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = shops
    rows = {row["campaign"]: row for row in run(seeded, "campaigns") if row["kind"] == "campaign"}
    assert set(rows) == {"GIFT-TOTE-300", "SPEND200-GET20"}
    assert rows["SPEND200-GET20"] == {
        "campaign": "SPEND200-GET20",
        "kind": "campaign",
        "orders": 1,
        "members": 1,
        "new_members": 0,
        "net_cents": 28_000,
        "cost_cents": 2_000,
        "refunded_cents": 0,
        "gifts": 0,
        "extra_points": 0,
    }
    gift = rows["GIFT-TOTE-300"]
    assert (gift["orders"], gift["members"], gift["net_cents"], gift["gifts"]) == (1, 1, 28_000, 1)
    assert run(seeded, "campaigns", start=DAY_2) == []


def test_a_gift_campaign_costs_no_discount(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, results = shops
    rows = {row["campaign"]: row for row in run(seeded, "campaigns")}
    assert rows["GIFT-TOTE-300"]["cost_cents"] == 0
    assert sum(row["cost_cents"] for row in rows.values()) == results[0].discount_cents


def test_sequence_gaps(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = shops
    assert run(seeded, "gaps") == [
        {
            "device": "kiosk-2",
            "seq_max": 3,
            "missing": 1,
            "first_missing": [2],
            "ranges": [[2, 2]],
        },
    ]


def _store_seqs(seeded: Seeded, device: str, seqs: list[int]) -> None:
    """Stored results with these sequence numbers, as the ledger keeps them."""
    rows = [
        {
            "tx_id": str(uuid.uuid4()),
            "device_id": device,
            "seq": seq,
            "digest": "0" * 64,
            "accepted": True,
            "reason": 0,
            "body": "{}",
            "applied_ms": 0,
        }
        for seq in seqs
    ]
    with seeded.hub.transaction() as conn:
        conn.execute(db.results.insert(), rows)


def test_gaps_of_a_huge_seq_are_computed_in_sql_and_bounded(seeded: Seeded) -> None:
    """seq 2**62 next to 30 separate holes: the answer comes at once, on SQLite and
    PostgreSQL, and lists at most the bounded numbers and ranges."""
    huge = 2**62
    seqs = [1, 2, 4, *range(10, 70, 2), huge]  # holes: 3, 5-9, 11, 13, ..., 69..2**62-1
    _store_seqs(seeded, "kiosk-1", seqs)
    started = time.perf_counter()
    [row] = run(seeded, "gaps")
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < GAPS_ELAPSED_S_MAX, elapsed_s
    assert row["device"] == "kiosk-1" and row["seq_max"] == huge
    assert row["missing"] == huge - len(seqs)
    assert row["ranges"][:3] == [[3, 3], [5, 9], [11, 11]]
    assert len(row["ranges"]) == reports.GAP_RANGES_LISTED_MAX
    # The numbers come from the listed ranges: 3, 5-9 and eight single holes.
    assert row["first_missing"] == [3, 5, 6, 7, 8, 9, *range(11, 27, 2)]


def test_gaps_one_wide_hole_lists_its_first_numbers(seeded: Seeded) -> None:
    _store_seqs(seeded, "kiosk-1", [5, 2**62])
    [row] = run(seeded, "gaps")
    assert row["ranges"] == [[1, 4], [6, 2**62 - 1]]
    assert row["first_missing"] == [1, 2, 3, 4, *range(6, 6 + reports.GAPS_LISTED_MAX - 4)]
    assert row["missing"] == 2**62 - 2


def test_no_gaps_no_rows(seeded: Seeded) -> None:
    _store_seqs(seeded, "kiosk-1", [1, 2, 3])
    assert run(seeded, "gaps") == []


def test_open_exceptions(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, results = shops
    [row] = run(seeded, "exceptions")
    assert {k: row[k] for k in ("kind", "tx_id", "device_id", "card_id", "asset", "amount")} == {
        "kind": "offline_overdraw",
        "tx_id": str(results[3].tx_id),
        "device_id": "kiosk-1",
        "card_id": seeded.cards[0],
        "asset": "cents",
        "amount": 1_500,
    }
    assert row["member_id"] == seeded.members[0] and row["acked_by"] is None
    with seeded.hub.transaction() as conn:
        conn.execute(db.exceptions.update().values(acked_by="hq:anna"))
    assert run(seeded, "exceptions") == []


def test_every_report_is_covered() -> None:
    tested = {"turnover", "points", "cards", "categories", "campaigns", "gaps", "exceptions"}
    tested.add("stored-value")  # tests/hub/test_stored_value.py
    tested.add("points-liability")  # tests/hub/test_expiry.py
    tested.add("refunds")  # tests/hub/test_refund_cli.py
    tested |= {"top-members"}  # here; and with compare, products, member-sources, campaigns:
    tested |= {"compare", "products", "member-sources"}  # tests/hub/test_sales_reports.py
    tested.add("new-members")  # tests/hub/test_card_account_counts.py
    tested.add("staff")  # only its page: tests/web/test_pages.py, test_live.py
    tested.add("campaign-effect")  # tests/hub/test_campaigns.py
    assert set(report_list.REPORTS) == tested


def test_top_members_by_the_cli_name(shops: tuple[Seeded, list[m.TxResult]]) -> None:
    """Net spend from member_days: card 0's 280.00 and its 15.00 of stored value (one
    purchase), card 1's 60.00 and 26.00 (two); on day 2 at shop-2 only the fuel."""
    seeded, _ = shops
    first, second = seeded.members
    rows = run(seeded, "top-members")
    assert [(r["member"], r["orders"], r["net_cents"]) for r in rows] == [
        (first, 1, 29_500),
        (second, 2, 8_600),
    ]
    at_shop_2 = run(seeded, "top-members", start=DAY_2, end=DAY_2, branch="shop-2")
    assert [(r["member"], r["orders"], r["net_cents"]) for r in at_shop_2] == [(second, 1, 2_600)]


def test_reports_are_empty_on_a_new_hub(seeded_sqlite: Seeded) -> None:
    for name in sorted(report_list.REPORTS):
        rows = run(seeded_sqlite, name)
        expected = [{"tier": "regular", "state": "active", "cards": 2}] if name == "cards" else []
        if name in ("new-members", "member-sources"):  # the two seeded members, no more
            assert sum(r["members"] for r in rows) == 2, name
            continue
        if name == "points-liability":  # always its three lines: nothing outstanding yet
            assert [(r["count"], r["liability_cents"]) for r in rows] == [(0, 0)] * 3
            continue
        assert rows == expected, name
    with seeded_sqlite.hub.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.results)).scalar_one() == 0
