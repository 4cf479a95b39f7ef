"""Targeted campaigns at the hub (issue 17), on SQLite and PostgreSQL: the hub decides
who gets a campaign from segment_members, the sending device's branch, the control
group's stable hash, and the budget and per-member uses it counts in the booking's
transaction; a spent budget stops the campaign at the next sale; two workers racing for
the last of a budget on PostgreSQL never overspend it; an offline sale the device
priced with a spent campaign is booked at the hub's price with the difference recorded;
the snapshot carries the member's segments to a device that asks.

Scenario: the sample chain with its campaigns replaced by the test's (rule set version
2); Li Wei and Ana Silva buy ¥300 of groceries for cash at the terminal in shop-1.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from hub import campaign_report, db, report_list
from hub.admin.snapshot import answer_query
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.segments import held_out
from hub.web import reporting
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.messages import TxResult
from tests.conftest import Seeded, seed_hub
from tests.hub.support import Device, purchase, staff_on_duty

SALE = 30_000  # ¥300: 20 % off is ¥60
P20: dict[str, Any] = {"code": "P20", "kind": "percent_off", "percent_bp": 2_000}


def load_campaigns(seeded: Seeded, *campaigns: dict[str, Any]) -> Device:
    """Rule set version 2 with only these campaigns; the terminal that stamps it."""
    doc = json.loads(sample_rules_bytes())
    doc.update(version=2, campaigns=list(campaigns), multipliers=[], birthday=None)
    with seeded.hub.transaction() as conn:
        store_rules(conn, parse_rules(json.dumps(doc).encode()), "test")
    return Device(seeded.device_id, seeded.device_key, rules_version=2)


def in_segment(seeded: Seeded, code: str, *member_ids: int) -> None:
    with seeded.hub.transaction() as conn:
        conn.execute(
            db.segment_members.insert(),
            [{"segment_code": code, "member_id": i} for i in member_ids],
        )


def buy(seeded: Seeded, device: Device, card: int = 0, **kw: Any) -> TxResult:
    op = purchase(SALE)
    [result] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[card], op, **kw)])
    assert result.accepted, result.message
    return result


def budget(seeded: Seeded, code: str) -> tuple[int, int, int]:
    b = db.campaign_budgets
    with seeded.hub.engine.connect() as conn:
        row = conn.execute(sa.select(b).where(b.c.code == code)).one()
    return int(row.spent_cents), int(row.spent_points), int(row.uses)


def test_segment_and_branch(seeded: Seeded) -> None:
    li = seeded.members[0]
    device = load_campaigns(
        seeded,
        {**P20, "segment": "vip"},
        {**P20, "code": "ELSEWHERE", "percent_bp": 5_000, "branches": ["shop-2"]},
    )
    in_segment(seeded, "vip", li)
    assert buy(seeded, device, 0).discount_cents == 6_000  # Li is in vip
    assert buy(seeded, device, 1).discount_cents == 0  # Ana is not; shop-2's 50 % not here


def test_hold_out_members_do_not_get_it(seeded: Seeded) -> None:
    li, ana = seeded.members
    # A code whose stable hash treats Li and holds Ana out at 50 %.
    code = next(
        c
        for c in (f"HOLD{i}" for i in range(200))
        if not held_out(li, c, 50) and held_out(ana, c, 50)
    )
    device = load_campaigns(seeded, {**P20, "code": code, "segment": "vip", "control_percent": 50})
    in_segment(seeded, "vip", li, ana)
    assert buy(seeded, device, 0).discount_cents == 6_000
    assert buy(seeded, device, 1).discount_cents == 0


def test_the_budget_is_hit_exactly_then_the_campaign_stops(seeded: Seeded) -> None:
    device = load_campaigns(seeded, {**P20, "budget_cents": 10_000})
    assert [buy(seeded, device).discount_cents for _ in range(3)] == [6_000, 4_000, 0]
    assert budget(seeded, "P20") == (10_000, 0, 2)
    with seeded.hub.engine.connect() as conn:
        uses = conn.execute(sa.select(sa.func.sum(db.campaign_uses.c.cost_cents))).scalar()
    assert uses == 10_000


def test_gift_cost_and_double_points_budgets(seeded: Seeded) -> None:
    tote = {"code": "TOTE", "kind": "gift", "gift": "tote", "gift_cost_cents": 800}
    double = {"code": "X2", "kind": "double_points", "factor_pct": 200, "budget_points": 500}
    device = load_campaigns(seeded, {**tote, "budget_cents": 1_600, "stackable": True}, double)
    earned = [buy(seeded, device).points_earned for _ in range(3)]
    assert earned == [600, 500, 300]  # 300 extra, then the 200 left, then none
    assert budget(seeded, "X2") == (0, 500, 2)
    assert budget(seeded, "TOTE") == (1_600, 0, 2)  # two totes, then none


def test_per_member_use_limit(seeded: Seeded) -> None:
    device = load_campaigns(seeded, {**P20, "member_uses_max": 2})
    assert [buy(seeded, device, 0).discount_cents for _ in range(3)] == [6_000, 6_000, 0]
    assert buy(seeded, device, 1).discount_cents == 6_000  # Ana has her own two


def test_an_offline_sale_is_booked_at_the_hubs_price_and_the_difference_recorded(
    seeded: Seeded,
) -> None:
    device = load_campaigns(seeded, {**P20, "budget_cents": 6_000})
    assert buy(seeded, device).discount_cents == 6_000  # online: the budget is spent
    result = buy(seeded, device, offline=True)  # the device could not know it
    assert (result.discount_cents, result.net_cents, result.offline_exception) == (0, SALE, True)
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.exceptions.c.kind, db.exceptions.c.amount, db.exceptions.c.detail)
        ).all()
    assert [(r.kind, r.amount) for r in rows] == [("offline_campaign", 6_000)]
    assert "[('P20', 6000)]" in rows[0].detail
    assert buy(seeded, device, offline=True).offline_exception  # every time it differs


def test_unknown_campaign_fields_are_refused(seeded: Seeded) -> None:
    doc = json.loads(sample_rules_bytes())
    doc["campaigns"] = [{**P20, "budget_cent": 100}]
    with pytest.raises(Exception, match="campaign P20: unknown field 'budget_cent'"):
        parse_rules(json.dumps(doc).encode())


def test_the_snapshot_carries_segments_to_a_device_that_asks(seeded: Seeded) -> None:
    li = seeded.members[0]
    load_campaigns(seeded, {**P20, "segment": "vip", "control_percent": 100})
    in_segment(seeded, "vip", li)
    in_segment(seeded, "lapsed", li)
    rules = seeded.hub.rules.latest()
    hub = seeded.hub
    asks = m.SnapshotQuery(device=seeded.device_id, card_id=seeded.cards[0], segments=True)
    snapshot = answer_query(hub.engine, hub.writer, asks, rules)
    assert (snapshot.segments, snapshot.held_out) == (["lapsed", "vip"], ["P20"])
    old = m.SnapshotQuery(device=seeded.device_id, card_id=seeded.cards[0])
    encoded = msgspec.json.encode(answer_query(hub.engine, hub.writer, old, rules))
    assert b"segments" not in encoded and b"held_out" not in encoded  # older devices read it


@pytest.mark.postgres
def test_two_workers_racing_for_a_budget_never_overspend_it(pg_url: str, tmp_path: Path) -> None:
    seeded = seed_hub(HubConfig(data_dir=tmp_path / "hub", db_url=pg_url, broker=None))
    try:
        device = load_campaigns(seeded, {**P20, "budget_cents": 31_000})  # 5 whole + ¥10
        second = Device("kiosk-2", seeded.add_device("kiosk-2"), rules_version=2)
        start = threading.Barrier(2)
        given: list[int] = []

        def worker(dev: Device, card: int) -> None:
            start.wait()
            for _ in range(8):
                given.append(buy(seeded, dev, card).discount_cents)

        threads = [
            threading.Thread(target=worker, args=(d, c)) for d, c in ((device, 0), (second, 1))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(given) == 31_000
        assert sorted(given, reverse=True)[:6] == [6_000] * 5 + [1_000]
        assert budget(seeded, "P20") == (31_000, 0, 6)
    finally:
        seeded.hub.close()


def test_the_report_measures_cost_and_uplift_against_the_control_group(seeded: Seeded) -> None:
    li, ana = seeded.members
    code = next(
        c
        for c in (f"HOLD{i}" for i in range(200))
        if not held_out(li, c, 50) and held_out(ana, c, 50)
    )
    campaign = {**P20, "code": code, "segment": "vip", "control_percent": 50}
    device = load_campaigns(seeded, {**campaign, "budget_cents": 50_000})
    in_segment(seeded, "vip", li, ana)
    assert [buy(seeded, device, 0).net_cents for _ in range(2)] == [24_000, 24_000]
    assert buy(seeded, device, 1).net_cents == SALE  # held out: full price
    with seeded.hub.engine.connect() as conn:
        [row] = campaign_report.targeted_effect(conn)
        assert [r["campaign"] for r in report_list.REPORTS["campaign-effect"](conn)] == [code]
    assert row == {
        "campaign": code,
        "segment": "vip",
        "participants": 1,
        "orders": 2,
        "net_cents": 48_000,
        "points": 0,
        "discount_cents": 12_000,
        "cost_cents": 12_000,
        "new_members": 1,  # Li joined today
        "budget_cents": 50_000,
        "budget_used_cents": 12_000,
        "budget_points": 0,
        "budget_used_points": 0,
        "treated": 1,
        "held_out": 1,
        "treated_spend_cents": 48_000,
        "control_spend_cents": 30_000,
        "spend_uplift_pct": 60.0,
        "treated_visit_pct": 100.0,
        "control_visit_pct": 100.0,
    }
    chart = reporting.chart_data("campaign_effect", [row])
    assert chart["labels"] == [code]
    assert [d["data"] for d in chart["datasets"]] == [[480.0], [300.0]]  # ¥ per member


def test_a_targeted_sale_is_refunded_as_it_was_sold(seeded: Seeded) -> None:
    """The refund prices the sale again with the campaigns it got, whatever the member's
    segments or the budget are now: one of two ¥150 lines back is half of the ¥240."""
    li = seeded.members[0]
    device = load_campaigns(seeded, {**P20, "segment": "vip", "budget_cents": 6_000})
    in_segment(seeded, "vip", li)
    badge = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    sale = device.incoming(seeded.cards[0], purchase(15_000, 15_000), staff=badge)
    [sold] = seeded.hub.ledger.apply_batch([sale])
    assert (sold.net_cents, sold.discount_cents) == (24_000, 6_000)
    with seeded.hub.transaction() as conn:  # out of the segment; the budget is spent
        conn.execute(db.segment_members.delete())
    back = m.Refund(
        ref=str(sale.intent.tx_id), lines=[m.RefundLine(line_no=0, quantity=1)], reason="damaged"
    )
    [refunded] = seeded.hub.ledger.apply_batch(
        [device.incoming(seeded.cards[0], back, staff=badge)]
    )
    assert refunded.accepted, refunded.message
    assert refunded.net_cents == 12_000
