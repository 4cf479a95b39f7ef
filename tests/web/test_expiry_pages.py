"""Dashboard: the member page names the next points to expire (Chinese and English), and
the points-liability report with its CSV in yuan, which a branch manager does not see.

Scenario: Li (shop-1) was given 2,000 points today under the demo chain's rolling expiry
(half a cent a point). HQ opens her page and reads when they expire; the liability
report says ¥10.00 outstanding; a branch manager's report is empty.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import db
from tapcard.domain import expiry
from tapcard.domain.authority import business_date
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]


def test_member_page_and_liability_report(web_hub: WebHub, client_for: Client) -> None:
    hub = web_hub.seeded.hub
    li = web_hub.seeded.members[0]
    credit(hub, li, Asset.POINTS, 2_000)
    rules = hub.rules.latest()
    with hub.engine.connect() as conn:
        last = expiry.expires_on(
            rules.points_expiry, business_date(db.now_ms(conn), rules.time_zone)
        )
    client, _ = client_for("hq")
    page = client.get(f"/members/{li}").text  # Chinese first
    english = client.get(f"/members/{li}", headers={"accept-language": "en"}).text
    assert f"2000 points expire on {last.isoformat()}" in english
    assert f"2000 积分将于 {last.year}年{last.month}月{last.day}日 到期" in page
    client.cookies.set("tapcard_lang", "zh")
    report = client.get("/reports?name=points_liability")
    assert report.status_code == 200 and "积分负债" in report.text  # the title in Chinese
    lines = client.get("/reports.csv?name=points_liability").text.strip().splitlines()
    assert lines[0] == "points,count,point_cost_millicents,liability_yuan"
    assert lines[1] == "outstanding,2000,500,10.00"
    manager, _ = client_for("mgr1")
    branch_csv = manager.get("/reports.csv?name=points_liability").text.strip().splitlines()
    assert len(branch_csv) <= 1  # a header at most: the chain's liability is HQ's
