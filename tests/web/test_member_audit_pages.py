"""The member page's history, the reversal's confirmation and the audit trail's filters.

Scenario: a member buys with cash at shop-1's terminal, served by cashier ana, with a
receipt number. HQ opens the member: the row shows ¥ money, the points earned, the
tender, the branch's name, the staff and the receipt number, and the detail in words
(no JSON braces). Reverse points leads to a page that says how many points go and what
the balance becomes, and books nothing until its form is posted. The audit trail finds
that reversal by action, by user, by object and by date, and pages 50 at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import admin, db
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]
EN = {"accept-language": "en"}


def _sale(web_hub: WebHub) -> tuple[str, int]:
    from tests.hub.support import Device, purchase, staff_on_duty

    seeded = web_hub.seeded
    sender = Device(seeded.device_id, seeded.device_key)
    ana = staff_on_duty(seeded.hub, seeded.device_id, "ana")
    [result] = seeded.hub.ledger.apply_batch(
        [sender.incoming(seeded.cards[0], purchase(30_000, 20_000), staff=ana)]
    )
    assert result.accepted and result.points_earned > 0
    return str(result.tx_id), int(result.points_earned)


def _points(web_hub: WebHub) -> int:
    with web_hub.seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, web_hub.seeded.members[0])
    return int(view["balances"].get("points", 0))


def test_history_row_reads_as_money_points_tender_branch_staff(
    web_hub: WebHub, client_for: Client
) -> None:
    tx_id, earned = _sale(web_hub)
    client, _ = client_for("hq")
    page = client.get(f"/members/{web_hub.seeded.members[0]}", headers=EN).text
    row = page.split(f'id="tx-{tx_id}"')[1].split("</tr>")[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.split(r"<td[^>]*>", row)[1:]]
    assert re.fullmatch(r"¥[\d,]+\.\d\d", cells[3]), cells[3]  # the money of the sale
    assert f"+{earned}" in cells[4]
    assert "cash" in cells[6] and "Shop one" in cells[7] and "ana" in cells[8]
    assert "{" not in row and "gross: ¥" in row
    chinese = client.get(f"/members/{web_hub.seeded.members[0]}").text
    assert "现金" in chinese.split(f'id="tx-{tx_id}"')[1].split("</tr>")[0]


def test_reversal_shows_its_effect_before_it_books(web_hub: WebHub, client_for: Client) -> None:
    tx_id, earned = _sale(web_hub)
    before = _points(web_hub)
    for name in ("mgr2",):  # another branch's manager may not even look
        other, _ = client_for(name)
        assert other.get(f"/transfers/{tx_id}/reverse").status_code == 403
    client, csrf = client_for("hq")
    page = client.get(f"/transfers/{tx_id}/reverse", headers=EN)
    assert page.status_code == 200 and _points(web_hub) == before  # looking books nothing
    assert f'<dd id="reverse-points">{earned}</dd>' in page.text
    assert f"{before} → {before - earned}" in page.text
    assert f"Take back {earned} points" in page.text
    done = client.post(f"/transfers/{tx_id}/reverse", data={"csrf": csrf, "reason": "fraud"})
    assert done.status_code == 200 and _points(web_hub) == before - earned
    again = client.post(f"/transfers/{tx_id}/reverse", data={"csrf": csrf, "reason": "fraud"})
    assert "already reversed" in again.text and _points(web_hub) == before - earned


def test_audit_trail_filters_and_pages_on_the_server(web_hub: WebHub, client_for: Client) -> None:
    tx_id, _earned = _sale(web_hub)
    client, csrf = client_for("hq")
    client.post(f"/transfers/{tx_id}/reverse", data={"csrf": csrf, "reason": "fraud ring"})
    with web_hub.seeded.hub.transaction() as conn:
        for n in range(60):
            admin.audit(conn, "cli:ops", "member.edit", f"member:{n}", {"phone": str(n)})
        today = conn.execute(sa.select(sa.func.max(db.audit.c.at_ms))).scalar()
    assert today is not None

    def count(**query: str) -> int:
        page = client.get("/audit", params=query, headers=EN).text
        found = re.search(r'<p id="audit-count">(\d+) entries', page)
        assert found is not None, page[-2000:]
        return int(found.group(1))

    assert count(action="ledger.reverse") == 1
    assert count(actor="web:hq", action="ledger.reverse") == 1
    assert count(actor="nobody") == 0
    assert count(target=tx_id) == 1
    assert count(action="member.edit") == 60
    first = client.get("/audit", params={"action": "member.edit"}, headers=EN).text
    assert first.count("<tr><td>") == 50 and 'rel="next"' in first
    second = client.get("/audit", params={"action": "member.edit", "page": "2"}, headers=EN).text
    assert second.count("<tr><td>") == 10 and 'rel="prev"' in second
    assert count(since="2000-01-01", until="2000-01-02") == 0
    assert "fraud ring" in client.get("/audit", params={"action": "ledger.reverse"}).text
    assert client.get("/audit", params={"since": "yesterday"}).status_code == 400
    manager, _ = client_for("mgr1")
    assert manager.get("/audit").status_code == 403
