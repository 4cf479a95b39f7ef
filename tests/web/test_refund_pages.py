"""Refunds on the dashboard: from a member's ledger history, through the review page
that shows the member, the lines and the amounts, to the booking.

Scenario: a member bought two grocery lines in cash. An HQ admin in a real Chromium opens
the member, presses Refund on that purchase, gives one line back with a reason, sees the
money back and points taken back on the confirmation, books it and sees the member's
points go down by exactly what the confirmation said. A manager of another branch and
an auditor may not even open the refund page; a form without its CSRF token changes
nothing; asking for more than is left is a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from hub import admin
from hub.web.server import WebServer
from tests.screenshots import shots_dir
from tests.web.conftest import PASSWORD, WebHub

Client = Callable[[str], tuple[TestClient, str]]


def _sale(web_hub: WebHub) -> str:
    from tests.hub.support import Device, purchase, staff_on_duty

    seeded = web_hub.seeded
    sender = Device("kiosk-1", seeded.device_key)
    ana = staff_on_duty(seeded.hub, "kiosk-1", "ana")
    [result] = seeded.hub.ledger.apply_batch(
        [sender.incoming(seeded.cards[0], purchase(30_000, 20_000), staff=ana)]
    )
    assert result.accepted and result.points_earned > 0
    return str(result.tx_id)


def _points(web_hub: WebHub) -> int:
    with web_hub.seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, web_hub.seeded.members[0])
    return int(view["balances"].get("points", 0))


def test_refund_is_scoped_checked_and_needs_its_form(web_hub: WebHub, client_for: Client) -> None:
    tx_id = _sale(web_hub)
    for name in ("mgr2", "audit"):
        client, _ = client_for(name)
        assert client.get(f"/transfers/{tx_id}/refund").status_code == 403
    client, csrf = client_for("mgr1")  # the member's own branch
    page = client.get(f"/transfers/{tx_id}/refund")
    assert page.status_code == 200 and 'name="q0"' in page.text and 'name="q1"' in page.text
    before = _points(web_hub)
    form = {"q0": "1", "reason": "damaged"}
    assert client.post(f"/transfers/{tx_id}/refund", data=form).status_code == 403  # no CSRF
    too_many = client.post(
        f"/transfers/{tx_id}/refund/review", data={**form, "q0": "2", "csrf": csrf}
    )
    assert too_many.status_code == 400 and "a quantity from 0 to 1" in too_many.text
    no_reason = client.post(f"/transfers/{tx_id}/refund/review", data={"q0": "1", "csrf": csrf})
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
    assert _points(web_hub) == before  # none of it booked anything
    review = client.post(f"/transfers/{tx_id}/refund/review", data={**form, "csrf": csrf})
    assert review.status_code == 200 and "确认退款" in review.text
    refund_id = re.search(r'name="tx_id" value="([^"]+)"', review.text)
    assert refund_id is not None
    booking = {**form, "csrf": csrf, "tx_id": refund_id.group(1)}
    booked = client.post(f"/transfers/{tx_id}/refund", data=booking)
    assert f"refund {refund_id.group(1)} of {tx_id} booked" in booked.text
    after = _points(web_hub)
    assert after < before
    again = client.post(f"/transfers/{tx_id}/refund", data=booking)  # sent twice
    assert "was booked before" in again.text and _points(web_hub) == after


def test_browser_refunds_a_line_through_the_confirmation(
    web_hub: WebHub, live_server: WebServer, browser_page: object
) -> None:
    page: Any = browser_page
    tx_id = _sale(web_hub)
    before = _points(web_hub)
    page.goto(live_server.url + f"/members/{web_hub.seeded.members[0]}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.locator(f"#refund-{tx_id}").click()
    page.locator("#refund-form").wait_for()
    page.fill("input[name=q1]", "1")
    page.fill("input[name=reason]", "wrong size")
    page.screenshot(path=str(shots_dir() / "refund.png"), full_page=True)
    page.click("#refund-form button[type=submit]")
    page.locator("#refund-amounts").wait_for()
    money = page.locator("#refund-money").inner_text()
    taken = int(page.locator("#refund-points").inner_text().replace(",", ""))
    assert money.startswith("¥") and money != "¥0.00" and taken > 0
    assert "wrong size" in page.locator("#refund-confirm").inner_text()
    assert _points(web_hub) == before  # nothing booked before the confirmation
    page.screenshot(path=str(shots_dir() / "refund-confirm.png"), full_page=True)
    page.click("#refund-book button[type=submit]")
    page.locator(f"text=of {tx_id} booked").wait_for()
    assert int(page.locator("#bal-points").inner_text().replace(",", "")) == before - taken
    assert _points(web_hub) == before - taken
