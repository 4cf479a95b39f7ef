"""Dashboard: the member page lists the person's cards with the points of the account
each uses: the member card the person's own, a 餐饮卡 its own, shown apart.

Scenario: Ana (shop-1) has 120 points on her member card; HQ issued her a dining card
which holds 35 points and ¥12.00 of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import admin
from tapcard.domain.model import Asset, CardKind
from tests.conftest import credit
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]


def test_member_page_shows_each_cards_own_points(web_hub: WebHub, client_for: Client) -> None:
    seeded = web_hub.seeded
    ana = seeded.members[1]
    with seeded.hub.transaction() as conn:
        rules = seeded.hub.rules.latest()
        dining = admin.issue_card(conn, ana, rules, "hq:ana", CardKind.CATEGORY, program="dining")
        account = int(admin.require_card(conn, dining).member_id)
    credit(seeded.hub, ana, Asset.POINTS, 120)
    credit(seeded.hub, account, Asset.POINTS, 35)
    credit(seeded.hub, account, Asset.CENTS, 1_200)
    client, _ = client_for("hq")
    page = client.get(f"/members/{ana}").text  # Chinese first
    english = client.get(f"/members/{ana}", headers={"accept-language": "en"}).text
    assert "各卡积分" in page and "Points by card" in english
    member_row = page.split(f'id="account-{seeded.cards[1]}"')[1].split("</tr>")[0]
    dining_row = page.split(f'id="account-{dining}"')[1].split("</tr>")[0]
    assert '<td class="points">120</td>' in member_row and "¥0.00" in member_row
    assert '<td class="points">35</td>' in dining_row and "¥12.00" in dining_row
    assert f'href="/members/{account}"' in dining_row and ">dining<" in dining_row
