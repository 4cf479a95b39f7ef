"""The reports page: the chart's series as the hub computes them (read back from
Chromium), in yuan, stacked by branch with no colour repeated; presets; CSV units."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient

from hub import admin, db, reports, sales_reports
from hub.web import reporting
from hub.web.i18n import money
from hub.web.server import WebServer
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.hub.support import Device, purchase, to_incoming
from tests.web.conftest import PASSWORD, WebHub

Client = Callable[[str], tuple[TestClient, str]]


def _book_two_branches(web_hub: WebHub) -> None:
    seeded = web_hub.seeded
    key = new_signing_key()
    with seeded.hub.transaction() as conn:
        admin.add_device(conn, "till-3", "shop-2", "terminal", verify_key_text(key.verify_key), "t")
    kiosk_1 = Device(seeded.device_id, seeded.device_key)
    kiosk_3 = Device("till-3", key)
    results = seeded.hub.ledger.apply_batch(
        [
            kiosk_1.incoming(seeded.cards[0], purchase(12_345)),
            kiosk_1.incoming(seeded.cards[1], purchase(2_000, category="fuel")),
            to_incoming(kiosk_3.sealed(web_hub.other_card, purchase(45_600)), "shop-2"),
        ]
    )
    assert all(r.accepted for r in results), [r.reason for r in results]


def test_the_drawn_chart_is_the_turnover_report_in_yuan(
    web_hub: WebHub, live_server: WebServer, browser_page: object
) -> None:
    _book_two_branches(web_hub)
    with web_hub.seeded.hub.engine.connect() as conn:
        rows = reports.turnover(conn)
    page = browser_page
    page.goto(live_server.url + "/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "hq")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/fleet")  # type: ignore[attr-defined]
    page.goto(live_server.url + "/reports?name=turnover")  # type: ignore[attr-defined]
    page.wait_for_selector("canvas#chart[data-rendered]")  # type: ignore[attr-defined]
    drawn = page.evaluate(  # type: ignore[attr-defined]
        """() => ({labels: window.tapcardChart.data.labels,
                   sets: window.tapcardChart.data.datasets.map(
                     (d) => ({label: d.label, data: d.data, color: d.backgroundColor})),
                   stacked: window.tapcardChart.options.scales.y.stacked,
                   ticks: window.tapcardChart.scales.y.ticks.map((t) => t.label)})"""
    )
    days = sorted({r["day"] for r in rows})
    assert drawn["labels"] == days
    expected = {
        branch: [
            sum(r["net_cents"] for r in rows if r["branch"] == branch and r["day"] == day) / 100
            for day in days
        ]
        for branch in {r["branch"] for r in rows}
    }
    names = {"shop-1": "Shop one", "shop-2": "Shop two"}  # branches by name, not by id
    assert {s["label"]: s["data"] for s in drawn["sets"]} == {
        names[b]: data for b, data in expected.items()
    }
    assert sorted(expected) == ["shop-1", "shop-2"] and drawn["stacked"] is True
    assert len({s["color"] for s in drawn["sets"]}) == len(drawn["sets"])
    assert drawn["ticks"] and all(t.startswith("¥") for t in drawn["ticks"])
    table = page.inner_text("table")  # type: ignore[attr-defined]
    shop_1 = sum(r["net_cents"] for r in rows if r["branch"] == "shop-1")
    assert money(shop_1) in table and "net_cents" not in table
    assert "Shop one" in table and "shop-1" not in table


def test_many_branches_show_nine_and_other_with_distinct_colours() -> None:
    rows = [
        {"branch": f"b{i:02d}", "day": "2026-03-10", "net_cents": 1_000 * (i + 1), "orders": 1}
        for i in range(14)
    ]
    chart = reporting.chart_data("turnover", rows)
    labels = [d["label"] for d in chart["datasets"]]
    assert labels == [f"b{i:02d}" for i in range(13, 4, -1)] + ["other"]
    assert chart["datasets"][-1]["data"] == [sum(1_000 * (i + 1) for i in range(5)) / 100]
    assert len({d["color"] for d in chart["datasets"]}) == len(labels)
    assert chart["unit"] == "¥" and chart["stacked"] is True
    ten = reporting.chart_data("turnover", rows[:10])
    assert "other" not in [d["label"] for d in ten["datasets"]]


def test_presets_and_csv_units(web_hub: WebHub, client_for: Client) -> None:
    _book_two_branches(web_hub)
    client, _ = client_for("hq")
    with web_hub.seeded.hub.engine.connect() as conn:
        today = db.today_at(conn)
    monday = (today - dt.timedelta(days=today.weekday())).isoformat()
    page = client.get(f"/reports?name=compare&start={monday}&end={today.isoformat()}").text
    assert f"start={monday}&end={today.isoformat()}" in page  # this week, a click away
    assert f"start={(today - dt.timedelta(days=29)).isoformat()}" in page
    for name in reporting.REPORTS:
        response = client.get(f"/reports.csv?name={name}")
        assert response.status_code == 200, name
        header = response.text.splitlines()[0] if response.text else ""
        assert "_cents" not in header, (name, header)
    with web_hub.seeded.hub.engine.connect() as conn:
        spent = sales_reports.top_members(conn, None, None, None)
    text = client.get("/reports.csv?name=top_members").text
    top = list(csv.DictReader(io.StringIO(text)))
    assert [Decimal(r["net_yuan"]) for r in top] == [
        Decimal(r["net_cents"]).scaleb(-2) for r in spent
    ]
    assert top[0]["member"] == str(web_hub.other_member) and "*" in top[0]["name"]
    points = client.get("/reports.csv?name=points").text.splitlines()[0]
    assert points == "day,issued_points,redeemed_points"
    campaigns = client.get("/reports?name=top_members").text
    assert f'href="/members/{web_hub.other_member}"' in campaigns
