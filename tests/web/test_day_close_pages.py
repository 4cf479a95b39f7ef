"""The daily close on the dashboard (日结).

Scenario: at shop-1 a member pays a sale part from stored value and part by WeChat Pay
and tops up by bank card. The branch's manager opens the Daily close page: the day's
money by tender and device, in yuan, in Chinese; the close goes through a confirmation
that shows the same figures and who signs; without its CSRF token it changes nothing;
once closed the page says by whom, and closing again is refused with the page's words.
An auditor sees the day but cannot close it, a manager of another branch cannot see it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db, till
from hub.web.server import WebServer
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tests.hub.support import Device, staff_on_duty
from tests.screenshots import shots_dir
from tests.web.conftest import PASSWORD, WebHub

Client = Callable[[str], tuple[TestClient, str]]


def _book(web_hub: WebHub) -> None:
    seeded = web_hub.seeded
    sender = Device("kiosk-1", seeded.device_key)
    ana = staff_on_duty(seeded.hub, "kiosk-1", "ana")
    [up] = seeded.hub.ledger.apply_batch(
        [sender.incoming(seeded.cards[0], m.TopUp(amount_cents=5_000), staff=ana)]
    )
    assert up.accepted
    bank = [m.TenderPart(payment=Payment.BANK_CARD, amount_cents=7_000, ref="POS-1")]
    [card] = seeded.hub.ledger.apply_batch(
        [sender.incoming(seeded.cards[0], m.TopUp(amount_cents=7_000, tenders=bank), staff=ana)]
    )
    assert card.accepted, card.message


def _report_shift(web_hub: WebHub, cash_in_cents: int) -> None:
    """ana's till closes its shift having counted `cash_in_cents` of cash taken."""
    hub = web_hub.seeded.hub
    now = hub.clock.now_ms()
    zone = hub.rules.latest().time_zone
    op = sm.CloseShift(
        shift_id=str(uuid.uuid4()),
        opened_ms=now - 3_600_000,
        closed_ms=now,
        opened_by="ana",
        float_cents=0,
        cash_in_cents=cash_in_cents,
        cash_out_cents=0,
        counted_cents=cash_in_cents,
    )
    with hub.transaction() as conn:
        till.record_shift(conn, "kiosk-1", "shop-1", op, "ana", now, zone)


def _closes(web_hub: WebHub) -> int:
    with web_hub.seeded.hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.day_closes)).scalar_one())


def test_a_manager_closes_the_day_through_its_confirmation(
    web_hub: WebHub, client_for: Client
) -> None:
    _book(web_hub)
    _report_shift(web_hub, 5_000 + 3_000)  # the till counted ¥30.00 the hub never booked
    auditor, _ = client_for("audit")
    seen = auditor.get("/day?branch=shop-1")
    assert seen.status_code == 200 and "¥70.00" in seen.text and "银行卡" in seen.text
    assert 'id="day-close-start"' not in seen.text
    assert auditor.get("/day/close?branch=shop-1").status_code == 403
    other, _ = client_for("mgr2")
    assert other.get("/day?branch=shop-1").status_code == 403

    client, csrf = client_for("mgr1")
    page = client.get("/day")  # a manager's own branch by default
    assert page.status_code == 200 and "日结" in page.text and "¥50.00" in page.text
    assert "现金" in page.text and "bank_card" not in page.text
    assert "收银机现金与总部账之差合计: ¥30.00" in page.text
    confirm = client.get("/day/close?branch=shop-1")
    assert confirm.status_code == 200 and "确认日结" in confirm.text and "mgr1" in confirm.text
    assert "收银机现金与总部账之差合计: ¥30.00" in confirm.text  # the sign-off shows it
    found = re.search(r'name="date" value="([0-9-]+)"', confirm.text)
    assert found is not None
    date = found.group(1)
    form = {"branch": "shop-1", "date": date}
    assert client.post("/day/close", data=form).status_code == 403  # no CSRF token
    assert _closes(web_hub) == 0
    closed = client.post("/day/close", data={**form, "csrf": csrf})
    assert closed.status_code == 200 and "已日结" in closed.text and "mgr1" in closed.text
    assert "签核时\uff1a¥30.00" in closed.text
    client.cookies.set("tapcard_lang", "en")
    english = client.get("/day?branch=shop-1").text
    assert "Till cash against the hub&#39;s ledger: ¥30.00 (signed: ¥30.00)" in english
    assert "Hub cash in / out" in english
    client.cookies.set("tapcard_lang", "zh")
    assert _closes(web_hub) == 1
    again = client.post("/day/close", data={**form, "csrf": csrf})
    assert "该营业日已日结" in again.text and _closes(web_hub) == 1
    assert "该营业日已日结" in client.get("/day/close?branch=shop-1").text
    assert client.get("/day?branch=shop-1&date=2026-13-01").status_code == 400


def test_browser_shows_the_tills_cash_against_the_hub_in_both_languages(
    web_hub: WebHub, live_server: WebServer, browser_page: object
) -> None:
    page: Any = browser_page
    _book(web_hub)
    _report_shift(web_hub, 5_000 + 3_000)
    page.goto(live_server.url + "/day?branch=shop-1")
    page.fill("input[name=username]", "mgr1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server.url + "/lang/zh?next=/day%3Fbranch%3Dshop-1")
    mismatch = page.locator("#day-mismatch").inner_text()
    assert "收银机现金与总部账之差合计" in mismatch and "¥30.00" in mismatch
    assert "¥80.00 / ¥0.00" in page.locator("#day-shifts").inner_text()  # the till's
    page.screenshot(path=str(shots_dir() / "dashboard_day_zh.png"), full_page=True)
    page.goto(live_server.url + "/lang/en?next=/day%3Fbranch%3Dshop-1")
    shifts = page.locator("#day-shifts").inner_text()
    assert "Till vs hub" in shifts and "¥50.00 / ¥0.00" in shifts  # the hub's
    page.screenshot(path=str(shots_dir() / "dashboard_day_en.png"), full_page=True)
