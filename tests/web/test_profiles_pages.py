"""Dashboard: a member's profile change and the merge of two members, through the same
admin functions as the CLI and the counter.

Scenario: HQ corrects Li Wei's address and ID number from the member page (CSRF
checked; the audit shows the ID only masked); a branch manager cannot change another
branch's member, nor merge at all; and HQ merges Ana into Li Wei in a real Chromium,
after a page that shows both members and what moves.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import admin, db
from hub.web.server import WebServer
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.web.conftest import PASSWORD, WebHub

Client = Callable[[str], tuple[TestClient, str]]
ID_NUMBER = "110101199003071234"


def test_edit_from_the_member_page(web_hub: WebHub, client_for: Client) -> None:
    member = web_hub.seeded.members[0]
    client, csrf = client_for("hq")
    page = client.get(f"/members/{member}")
    assert f'action="/members/{member}/edit"' in page.text
    form = {
        "csrf": csrf,
        "name": "Li Wei",
        "phone": "13800000001",
        "address": "8 Bay Road",
        "birthday": "",
        "id_number": ID_NUMBER,
    }
    response = client.post(f"/members/{member}/edit", data=form)
    assert "profile changed: address, id_number" in response.text
    assert "1101**********1234" in response.text and ID_NUMBER not in response.text
    assert client.post(f"/members/{member}/edit", data=form | {"csrf": "x"}).status_code == 403
    response = client.post(f"/members/{member}/edit", data=form | {"phone": "13800000002"})
    assert "already member #" in response.text  # Ana's phone
    with web_hub.seeded.hub.engine.connect() as conn:
        details = conn.execute(
            sa.select(db.audit.c.actor, db.audit.c.detail).where(db.audit.c.action == "member.edit")
        ).all()
    assert [d.actor for d in details] == ["web:hq"]
    assert ID_NUMBER not in details[0].detail


def test_a_branch_manager_edits_only_their_branch_and_never_merges(
    web_hub: WebHub, client_for: Client
) -> None:
    client, csrf = client_for("mgr1")
    other = web_hub.other_member
    form = {"csrf": csrf, "name": "Someone"}
    assert client.post(f"/members/{other}/edit", data=form).status_code == 403
    a, b = web_hub.seeded.members
    assert client.get(f"/members/{a}/merge?into={b}").status_code == 403
    merge = {"csrf": csrf, "into": str(b), "reason": "same person"}
    assert client.post(f"/members/{a}/merge", data=merge).status_code == 403
    with web_hub.seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, a)["state"] == "active"


def test_merge_confirmation_in_chromium(
    web_hub: WebHub, live_server: WebServer, browser_page: object
) -> None:
    page = browser_page
    seeded = web_hub.seeded
    ana, li = seeded.members[1], seeded.members[0]
    credit(seeded.hub, ana, Asset.POINTS, 1_234)
    credit(seeded.hub, ana, Asset.CENTS, 5_050)
    page.goto(live_server.url + f"/members/{ana}")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "hq")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.goto(live_server.url + f"/members/{ana}")  # type: ignore[attr-defined]
    page.fill("#merge-start input[name=into]", str(li))  # type: ignore[attr-defined]
    page.click("#merge-start button")  # type: ignore[attr-defined]
    moves = page.locator("#merge-moves")  # type: ignore[attr-defined]
    moves.wait_for()
    assert "1234" in moves.inner_text() and "¥50.50" in moves.inner_text()
    both = page.locator("#merge-members").inner_text()  # type: ignore[attr-defined]
    assert "Ana Silva" in both and "Li Wei" in both and seeded.cards[1] in both
    button = page.locator("#merge-form button")  # type: ignore[attr-defined]
    page.fill("#merge-form input[name=reason]", "same person, two cards")  # type: ignore[attr-defined]
    button.click()
    page.locator(f"text=member {ana} merged into {li}").wait_for()  # type: ignore[attr-defined]
    assert "50.50" in page.locator(".balances").inner_text()  # type: ignore[attr-defined]
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, li)
    assert view["balances"]["points"] == 1_234 and view["balances"]["cents"] == 5_050
    assert sorted(c["id"] for c in view["cards"]) == sorted(seeded.cards)
