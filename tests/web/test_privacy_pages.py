"""Dashboard (PIPL): every member page read is logged, the data-access log for HQ with
its filters in Chinese and English, and closing an account after its confirmation page
(HQ only, CSRF checked, refused while stored value is held).

Scenario: HQ opens Ana's page; a branch manager may not see the log or close anyone;
HQ finds the read in the log by member and by user; Ana holds ¥12.00, so the close page
sends HQ to refund first; once refunded, HQ anonymises her and the page shows the label.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import admin, privacy
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]


def test_member_page_reads_are_logged_and_listed_for_hq(
    web_hub: WebHub, client_for: Client
) -> None:
    ana = web_hub.seeded.members[1]
    hq, _ = client_for("hq")
    assert hq.get(f"/members/{ana}").status_code == 200
    with web_hub.seeded.hub.engine.connect() as conn:
        [entry] = privacy.access_entries(conn, privacy.AccessFilter(member_id=ana))
    assert (entry["actor"], entry["action"], entry["via"]) == ("web:hq", "view", "web")
    manager, _ = client_for("mgr1")
    assert manager.get("/privacy/access").status_code == 403
    hq.cookies.set("tapcard_lang", "en")
    page = hq.get(f"/privacy/access?member={ana}")
    assert page.status_code == 200 and f"#{ana}" in page.text and "web:hq" in page.text
    assert "Data access log" in page.text and "member page viewed" in page.text
    assert "Nothing matches" in hq.get("/privacy/access?actor=web:nobody").text
    assert f"#{ana}" not in hq.get("/privacy/access?until=2000-01-01").text
    hq.cookies.set("tapcard_lang", "zh")
    zh = hq.get(f"/privacy/access?member={ana}").text
    assert "数据访问记录" in zh and "查看会员页面" in zh and "管理后台" in zh


def test_closing_an_account_from_the_dashboard(web_hub: WebHub, client_for: Client) -> None:
    seeded = web_hub.seeded
    ana = seeded.members[1]
    manager, manager_csrf = client_for("mgr1")
    assert manager.get(f"/members/{ana}/close").status_code == 403
    form = {"csrf": manager_csrf, "reason": "the member asked"}
    assert manager.post(f"/members/{ana}/close", data=form).status_code == 403
    credit(seeded.hub, ana, Asset.CENTS, 1_200)
    hq, csrf = client_for("hq")
    hq.cookies.set("tapcard_lang", "en")
    assert "close-start" in hq.get(f"/members/{ana}").text
    refused = hq.get(f"/members/{ana}/close").text
    assert "close-refused" in refused and "¥12.00" in refused and "close-form" not in refused
    credit(seeded.hub, ana, Asset.CENTS, -1_200)
    confirm = hq.get(f"/members/{ana}/close").text
    assert "Ana Silva" in confirm and "close-form" in confirm and "cannot be undone" in confirm
    bad = {"csrf": "x", "reason": "the member asked"}
    assert hq.post(f"/members/{ana}/close", data=bad).status_code == 403
    with seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, ana)["name"] == "Ana Silva"  # nothing before the form
    done = hq.post(f"/members/{ana}/close", data={"csrf": csrf, "reason": "the member asked"})
    assert done.status_code == 200 and f"member {ana} closed and anonymised" in done.text
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, ana)
    assert (view["name"], view["phone"], view["state"]) == (f"已注销会员 #{ana}", "", "terminated")
    page = hq.get(f"/members/{ana}").text
    assert "Ana Silva" not in page and "close-start" not in page
    hq.cookies.set("tapcard_lang", "zh")
    assert "注销会员" in hq.get(f"/members/{seeded.members[0]}/close").text
