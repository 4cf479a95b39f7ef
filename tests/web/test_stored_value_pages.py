"""Dashboard: a member leaves from the member page (confirmation showing member and
amount, CSRF checked, branch scoped), and the branch settlement report with its CSV in
yuan.

Scenario: Ana (shop-1) holds ¥50.50; a manager of another branch cannot end her
membership; HQ refunds her in a real Chromium after the confirmation page. The report
then shows shop-1's top-up and HQ's refund.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import admin
from hub.web.server import WebServer
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.web.conftest import PASSWORD, WebHub

Client = Callable[[str], tuple[TestClient, str]]


def test_leave_is_scoped_and_needs_the_form(web_hub: WebHub, client_for: Client) -> None:
    ana = web_hub.seeded.members[1]
    client, csrf = client_for("mgr1")
    other = web_hub.other_member
    assert client.get(f"/members/{other}/leave").status_code == 403
    form = {"csrf": csrf, "refund": "cash", "reason": "moving away"}
    assert client.post(f"/members/{other}/leave", data=form).status_code == 403
    hq, hq_csrf = client_for("hq")
    bad = {"csrf": "x", "refund": "cash", "reason": "moving away"}
    assert hq.post(f"/members/{ana}/leave", data=bad).status_code == 403
    odd = {"csrf": hq_csrf, "refund": "stored_value", "reason": "moving away"}
    assert hq.post(f"/members/{ana}/leave", data=odd).status_code == 400
    short = hq.post(f"/members/{ana}/leave", data={"csrf": hq_csrf, "reason": "x"})
    assert "leaving needs a reason" in short.text
    with web_hub.seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, ana)["state"] == "active"
        assert admin.member_view(conn, other)["state"] == "active"


def test_leave_with_refund_in_chromium_then_the_report(
    web_hub: WebHub, live_server: WebServer, browser_page: object, client_for: Client
) -> None:
    page = browser_page
    seeded = web_hub.seeded
    ana = seeded.members[1]
    credit(seeded.hub, ana, Asset.CENTS, 5_050)
    page.goto(live_server.url + f"/members/{ana}")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "hq")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.goto(live_server.url + f"/members/{ana}")  # type: ignore[attr-defined]
    page.click("#leave-start button")  # type: ignore[attr-defined]
    facts = page.locator("#leave-facts")  # type: ignore[attr-defined]
    facts.wait_for()
    assert "Ana Silva" in facts.inner_text() and "¥50.50" in facts.inner_text()
    assert "cash" in page.locator("#leave-does").inner_text()  # type: ignore[attr-defined]
    button = page.locator("#leave-form button")  # type: ignore[attr-defined]
    page.fill("#leave-form input[name=reason]", "moving away")  # type: ignore[attr-defined]
    button.click()
    page.locator(f"text=member {ana} left: ¥50.50 refunded in cash").wait_for()  # type: ignore[attr-defined]
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, ana)
    assert view["state"] == "terminated" and view["balances"]["cents"] == 0
    client, _ = client_for("hq")
    client.cookies.set("tapcard_lang", "zh")
    report = client.get("/reports?name=stored_value_branches")
    assert report.status_code == 200 and "各门店储值" in report.text  # the title in Chinese
    csv_text = client.get("/reports.csv?name=stored_value_branches").text
    lines = csv_text.strip().splitlines()
    assert lines[0] == "branch,topped_up_yuan,spent_yuan,net_yuan"
    assert "hq,0.00,0.00,0.00" in lines  # credited ¥50.50 at HQ, refunded ¥50.50 at HQ
