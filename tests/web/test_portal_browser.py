"""The member page end to end, in a real Chromium at 390 px, and its QR at a real counter.

Scenario: member Li Wei opens the member page on a phone (390 px wide, Chinese). She
types her phone number; the hub sends a code through the SMS channel to the provider
(a real local HTTP server recording it); she types the code read from that SMS and is
in. She sees her stored value in ¥ and her points, changes her consent (SMS offers
yes), opens the member code, and shows it at the counter: the terminal (its presenter,
over real mosquitto to the hub's staff channel) scans its text, the hub takes it and the
terminal shows her card as after a tap. The same text scanned again is refused as used.
Every page is walked with the dashboard walker's checks: no untranslated text, no raw
cents, no sideways scroll; the QR page also in English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import consenting
from hub.web.app import create_app
from hub.web.server import WebServer
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.device.conftest import Rig, rig, wait_until
from tests.screenshots import shots_dir
from tests.terminal.conftest import PIN, Till, close_till, make_till
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, FAST
from tests.web.portal_support import SmsProvider, sms_provider
from tests.web.test_walk_pages import CHECK_JS, _untranslated

__all__ = ["rig", "sms_provider"]  # fixtures, used by name

LI_PHONE = "13800000001"
PAGES = ("/m/", "/m/history", "/m/vouchers", "/m/profile", "/m/consent", "/m/close", "/m/qr")
SHOTS = {"/m/": "portal_home_zh.png", "/m/qr": "portal_qr_zh.png"}  # docs/portal.md


@pytest.fixture
def portal(rig: Rig, sms_provider: SmsProvider) -> Iterator[str]:
    app = create_app(rig.seeded.hub, replace(FAST, cookie_secure=False))
    server = WebServer(app, "127.0.0.1", 0)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def phone() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            browser.close()


def _problems(page: Any, lang: str) -> list[str]:
    result = page.evaluate(CHECK_JS, lang)
    found = list(result["problems"])
    if lang == "zh":
        found += _untranslated(result["texts"])
    return [f"{page.url}: {p}" for p in found]


def _log_in(page: Any, base: str, sms: SmsProvider) -> None:
    page.goto(base + "/m/")  # not logged in: the member login, not the staff one
    assert page.url.endswith("/m/login")
    page.fill("input[name=phone]", LI_PHONE)
    page.click("text=获取验证码")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", sms.last_code(LI_PHONE))
    page.click("button:has-text('登录')")
    page.wait_for_url(re.compile(r".*/m/$"))


def _scan(till: Till, text: str) -> Any:
    """The scan field's text, handed on as the sale screen hands it (sale_screen.scanned)."""
    from terminal.presenters.member_code import scan_member_code

    presenter = till.presenter
    assert scan_member_code(presenter.desk, text, presenter.on_tap)


def test_member_page_login_consent_qr_and_a_scan_at_the_counter(
    rig: Rig, portal: str, phone: Any, sms_provider: SmsProvider
) -> None:
    hub, li = rig.seeded.hub, rig.seeded.members[0]
    credit(hub, li, Asset.CENTS, 12_345)
    credit(hub, li, Asset.POINTS, 2_000)
    till = make_till(rig)  # first: the code below is scanned well within its 60 s
    try:
        till.presenter.login("ann", PIN)
        till.wait("home", "login")
        _member_side(rig, portal, phone, sms_provider)
        code = phone.get_attribute("#member-qr", "data-code")
        assert code and code.startswith("TCM2.")
        _counter_side(rig, till, code)
    finally:
        close_till(till)


def _member_side(rig: Rig, portal: str, phone: Any, sms_provider: SmsProvider) -> None:
    hub, li = rig.seeded.hub, rig.seeded.members[0]
    problems: list[str] = []
    _log_in(phone, portal, sms_provider)
    assert "¥123.45" in phone.inner_text("dl.facts") and "2,000" in phone.inner_text("dl.facts")
    for path in PAGES:
        phone.goto(portal + path)
        problems += _problems(phone, "zh")
        if path in SHOTS:
            phone.screenshot(path=str(shots_dir() / SHOTS[path]), full_page=True)

    phone.goto(portal + "/m/consent")
    phone.check("input[name='sms.marketing']")
    phone.click("text=保存设置")
    assert "您的设置已保存" in phone.inner_text("main")
    with hub.engine.connect() as conn:
        assert consenting(conn, [li], ChannelName.SMS, Purpose.MARKETING) == {li}
        assert consenting(conn, [li], ChannelName.EMAIL, Purpose.MARKETING) == set()

    phone.goto(portal + "/m/qr")
    phone.click("a.lang-switch")
    phone.wait_for_selector("text=Member code")
    problems += _problems(phone, "en")
    assert phone.locator("#member-qr svg").count() == 1
    assert not problems, "\n".join(problems)


def _counter_side(rig: Rig, till: Till, code: str) -> None:
    _scan(till, code)
    wait_until(
        lambda: till.presenter.card is not None and till.presenter.card.snapshot is not None,
        what="the member's card from the code",
    )
    card = till.presenter.card
    assert card is not None and card.tap.card_id == rig.seeded.cards[0]
    assert card.snapshot is not None and card.snapshot.found and card.online
    assert "123.45" in till.presenter.desk.member_text()

    till.presenter.desk.card = None
    _scan(till, code)  # the same code again: a screenshot, or a second scan
    refused = till.wait("message", "the refusal of a used code")
    assert refused.title == "This member code was used already: refresh it on the phone"
    assert till.presenter.desk.card is None
