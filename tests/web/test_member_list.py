"""The member list in pages with its count, and not empty before a search.

Scenario: shop-1 has the two seeded members and 58 more ("Member 00".."Member 57",
phones 1370000xxxx), shop-2 has Bo Chen. The seeded Li Wei buys 300.00 and Ana Silva
50.00 today. HQ opens Members: the top spenders of the last 30 days, Li Wei first with
¥ figures; the newest members, 61 of them in two pages of 50; a search for their tag
"batch" (names and phones match whole: they are sealed) finds 58 in two pages with the
count; shop-2's manager sees only Bo Chen.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import admin
from hub.web.member_list import PAGE_ROWS
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]
EN = {"accept-language": "en"}
MORE_MEMBERS_N = 58


def _seed(web_hub: WebHub) -> None:
    from tests.hub.support import Device, purchase

    hub = web_hub.seeded.hub
    rules = hub.rules.latest()
    with hub.transaction() as conn:
        for i in range(MORE_MEMBERS_N):
            member = admin.NewMember(
                f"Member {i:02d}", f"137000000{i:02d}", tags=("batch",), branch_id="shop-1"
            )
            admin.add_member(conn, member, rules, "", "test")
    sender = Device(web_hub.seeded.device_id, web_hub.seeded.device_key)
    li, ana = web_hub.seeded.cards
    results = hub.ledger.apply_batch(
        [
            sender.incoming(li, purchase(30_000, 30_000)),
            sender.incoming(ana, purchase(5_000, 5_000)),
        ]
    )
    assert all(r.accepted for r in results), [r.reason for r in results]


def _member_ids(page: str) -> list[int]:
    body = page.split('id="members"')[1].split("</table>", maxsplit=1)[0]
    return [int(i) for i in re.findall(r'<tr><td><a href="/members/(\d+)"', body)]


def test_before_a_search_the_top_spenders_then_the_newest(
    web_hub: WebHub, client_for: Client
) -> None:
    _seed(web_hub)
    client, _ = client_for("hq")
    li, ana = web_hub.seeded.members
    top = client.get("/members", headers=EN).text
    assert _member_ids(top) == [li, ana]
    assert "2 members" in top and re.search(r"¥[\d,]+\.\d\d", top.split('id="members"')[1])
    newest = client.get("/members?view=new", headers=EN).text
    everyone = 2 + MORE_MEMBERS_N + 1  # and shop-2's Bo Chen
    assert f"{everyone} members" in newest and "page 1 of 2" in newest
    first = _member_ids(newest)
    assert len(first) == PAGE_ROWS and first == sorted(first, reverse=True)
    second = _member_ids(client.get("/members?view=new&page=2", headers=EN).text)
    assert len(second) == everyone - PAGE_ROWS and not set(first) & set(second)
    assert li in second and ana in second
    chinese = client.get("/members").text
    assert "近 30 天消费最多的会员" in chinese and "共 2 位会员" in chinese


def test_a_search_pages_with_its_count_and_the_branch_scope(
    web_hub: WebHub, client_for: Client
) -> None:
    _seed(web_hub)
    client, _ = client_for("hq")
    page = client.get("/members?q=batch", headers=EN).text
    assert f"{MORE_MEMBERS_N} members" in page and 'rel="next"' in page
    assert len(_member_ids(page)) == PAGE_ROWS
    rest = client.get("/members?q=batch&page=2", headers=EN).text
    assert len(_member_ids(rest)) == MORE_MEMBERS_N - PAGE_ROWS and 'rel="prev"' in rest
    beyond = client.get("/members?q=batch&page=9", headers=EN).text  # the last page instead
    assert _member_ids(beyond) == _member_ids(rest)
    manager, _ = client_for("mgr2")
    theirs = manager.get("/members?view=new", headers=EN).text
    assert _member_ids(theirs) == [web_hub.other_member] and "1 members" in theirs
    assert _member_ids(manager.get("/members?q=batch", headers=EN).text) == []
    assert manager.get("/members?view=nonsense", headers=EN).status_code == 422
