"""The reports that answer questions give exact figures, on SQLite and PostgreSQL.

Scenario (sample rules, members who joined in 2025: no welcome discount; weekdays: no
weekend campaign):

    2026-11-26 (Thu)  card 0 buys 100.00 of grocery (SKU RICE-5KG): no multiplier
    2026-12-03 (Thu)  card 0 buys 300.00 of grocery (SKU TV-55): spend-200-get-20,
                      December double points
                      card 1 buys 50.00 of fuel (no SKU): double points
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db, member_days, sales_reports
from hub.admin.audit import audit
from hub.verify import verify_ledger
from tapcard.clock import ManualClock
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment, mask_name
from tapcard.wire import messages as m
from tests.conftest import Seeded
from tests.hub.support import Device, ms_of

WEEK_BEFORE = dt.date(2026, 11, 26)
DAY = dt.date(2026, 12, 3)
JOINED_ON = dt.date(2025, 1, 1)
POINT_COST_MILLICENTS = 500  # the sample rules' points_expiry.point_cost_millicents


def _sale(amount_cents: int, category: str = "grocery", sku: str = "") -> m.Purchase:
    return m.Purchase(lines=[SaleLine(category, amount_cents, sku=sku)], payment=Payment.CASH)


@pytest.fixture
def booked(seeded: Seeded) -> Iterator[tuple[Seeded, list[m.TxResult]]]:
    hub = seeded.hub
    with hub.transaction() as conn:
        conn.execute(db.members.update().values(joined_on=JOINED_ON, period_start=JOINED_ON))
    kiosk = Device("kiosk-1", seeded.device_key)
    card_0, card_1 = seeded.cards
    hub.ledger.clock = ManualClock(ms_of(WEEK_BEFORE))
    results = hub.ledger.apply_batch([kiosk.incoming(card_0, _sale(10_000, sku="RICE-5KG"))])
    hub.ledger.clock = ManualClock(ms_of(DAY))
    results += hub.ledger.apply_batch(
        [
            kiosk.incoming(card_0, _sale(30_000, sku="TV-55")),
            kiosk.incoming(card_1, _sale(5_000, category="fuel")),
        ]
    )
    assert all(r.accepted for r in results), [r.reason for r in results]
    yield seeded, results


def test_sales_by_product(booked: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = booked
    with seeded.hub.engine.connect() as conn:
        rows = sales_reports.sales_by_product(conn, DAY, DAY)
        other_branch = sales_reports.sales_by_product(conn, None, None, "shop-2")
    assert rows == [
        {"product": "TV-55", "category": "grocery", "quantity": 1, "gross_cents": 30_000},
        {"product": sales_reports.NO_SKU, "category": "fuel", "quantity": 1, "gross_cents": 5_000},
    ]
    assert other_branch == []


def test_a_week_against_the_week_before(booked: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, results = booked
    week_start, week_end = DAY - dt.timedelta(days=2), DAY + dt.timedelta(days=4)
    with seeded.hub.engine.connect() as conn:
        rows = sales_reports.period_compare(conn, week_start, week_end)
    now = results[1].net_cents + results[2].net_cents
    before = results[0].net_cents
    assert rows == [
        {
            "branch": "shop-1",
            "period": "2026-12-01..2026-12-07",
            "net_cents": now,
            "previous_net_cents": before,
            "change_pct": round((now - before) * 100 / before, 1),
            "orders": 2,
            "previous_orders": 1,
        }
    ]
    assert sales_reports.change_pct(5, 0) is None
    assert sales_reports.periods(None, DAY, DAY)[2:] == (
        DAY - dt.timedelta(days=13),
        DAY - dt.timedelta(days=7),
    )


def test_top_members_by_net_spend_masked(booked: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, results = booked
    with seeded.hub.engine.connect() as conn:
        rows = sales_reports.top_members(conn, None, None, None)
        names = dict(conn.execute(sa.select(db.members.c.id, db.members.c.name)).all())
        only_the_day = sales_reports.top_members(conn, DAY, DAY, None)
    first, second = seeded.members
    assert [(r["member"], r["orders"], r["net_cents"]) for r in rows] == [
        (first, 2, results[0].net_cents + results[1].net_cents),
        (second, 1, results[2].net_cents),
    ]
    assert rows[0]["name"] == mask_name(names[first]) != names[first]
    assert only_the_day[0]["net_cents"] == results[1].net_cents


def test_new_members_by_source(booked: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _ = booked
    with seeded.hub.transaction() as conn:
        audit(conn, "test", "member.join_by_spend", str(seeded.members[1]), {})
    with seeded.hub.engine.connect() as conn:
        rows = sales_reports.new_members_by_source(conn, JOINED_ON, JOINED_ON, None)
        none = sales_reports.new_members_by_source(conn, DAY, DAY, None)
    joined = len(seeded.members)
    assert rows == [
        {"branch": "shop-1", "members": joined, "by_spend": 1, "by_fee_or_registration": joined - 1}
    ]
    assert none == []


def test_campaign_effect_counts_the_multiplier_and_its_cost(
    booked: tuple[Seeded, list[m.TxResult]],
) -> None:
    seeded, results = booked
    with seeded.hub.engine.connect() as conn:
        rows = {r["campaign"]: r for r in sales_reports.campaign_effect(conn, DAY, DAY, None)}
        branch_2 = sales_reports.campaign_effect(conn, DAY, DAY, "shop-2")
    spend = rows["SPEND200-GET20"]
    assert (spend["kind"], spend["orders"], spend["cost_cents"]) == ("campaign", 1, 2_000)
    assert (spend["gifts"], spend["new_members"]) == (0, 0)  # joined in 2025: not new
    double = rows["December double points / birthday"]
    extra = (results[1].points_earned + results[2].points_earned) // 2  # double: half is extra
    assert double["kind"] == "multiplier"
    assert (double["orders"], double["members"], double["extra_points"]) == (2, 2, extra)
    assert double["cost_cents"] == extra * POINT_COST_MILLICENTS // 1000
    assert double["net_cents"] == results[1].net_cents + results[2].net_cents
    assert branch_2 == []


def test_top_members_pages_and_count(booked: tuple[Seeded, list[m.TxResult]]) -> None:
    seeded, _results = booked
    with seeded.hub.engine.connect() as conn:
        first_page = sales_reports.top_members(conn, None, None, None, limit=1)
        second_page = sales_reports.top_members(conn, None, None, None, offset=1, limit=1)
        count = sales_reports.top_members_count(conn)
        on_the_day = sales_reports.top_members_count(conn, DAY, DAY)
        elsewhere = sales_reports.top_members_count(conn, None, None, "shop-2")
    assert [r["member"] for r in first_page + second_page] == list(seeded.members)
    assert (count, on_the_day, elsewhere) == (2, 2, 0)


def _backfill_sql() -> str:
    path = Path(__file__).parents[2] / "hub/migrations/versions/0020_member_days.py"
    spec = importlib.util.spec_from_file_location("m0020", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.BACKFILL)


def test_member_days_kept_by_the_ledger_and_proved_by_verify(
    booked: tuple[Seeded, list[m.TxResult]],
) -> None:
    """The ledger writes the spend per member and day with the legs; verify re-sums the
    journal against it and names a row that differs; the migration's backfill gives the
    same rows as the ledger kept."""
    seeded, results = booked
    hub = seeded.hub
    first, _second = seeded.members
    with hub.engine.connect() as conn:
        kept = member_days.stored(conn)
        assert kept == member_days.from_journal(conn)
        assert verify_ledger(conn).errors == []
    day = (DAY - dt.date(1970, 1, 1)).days
    assert kept[(day, "shop-1", first)] == (results[1].net_cents, 1)
    with hub.transaction() as conn:
        conn.execute(db.member_days.update().values(net_cents=db.member_days.c.net_cents + 1))
    with hub.engine.connect() as conn:
        errors = verify_ledger(conn).errors
    assert len(errors) == len(kept) and f"member {first} on day {day}" in " ".join(errors)
    with hub.transaction() as conn:
        conn.execute(db.member_days.delete())
        conn.execute(sa.text(_backfill_sql()))
    with hub.engine.connect() as conn:
        assert member_days.stored(conn) == kept
        assert verify_ledger(conn).errors == []
    with hub.transaction() as conn:
        conn.execute(db.member_days.delete())
        assert member_days.rebuild(conn) == len(kept)
    with hub.engine.connect() as conn:
        assert member_days.stored(conn) == kept
