"""Every dashboard page, in both languages, at desktop and phone width, in a real Chromium.

Scenario: an HQ admin whose browser asks for Chinese, and one whose browser asks for
English, open each page an operator uses: fleet, alerts, members, a member, reports,
rules, users, audit, a device, a refund and its confirmation, a points reversal, a
member leaving, a merge, segments, a segment and a tag's confirmation, the login page
and an error page, at 1280 px and at 390 px (a phone). The walk fails on
- a Chinese page with a visible English word that is not a name or code of the data
  (an untranslated text),
- money without ¥ or yuan decimals where a money column or fact is (a raw cents figure),
- a horizontal scrollbar on the page body (a table must scroll inside its card),
- a page that does not answer 200 (404 for the error page).
One browser and one hub serve the whole walk. Screenshots of each page at 1280 px in
zh and en go to docs/screenshots/dashboard_<page>_<lang>.png (tests/screenshots.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from hub import portal
from hub.db import now_ms as db_now
from hub.web.server import WebServer
from tests.screenshots import shots_dir
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, WebHub

WIDTHS_PX: Final = (1280, 390)
HEIGHT_PX: Final = 800
PHONE_SHOTS: Final = (
    "fleet",
    "alerts",
    "members",
    "member",
    "reports",
    "audit",
    "segments",
)  # also at 390 px
WAIT_MS: Final = 15_000
LOCALES: Final = {"zh": "zh-CN", "en": "en-US"}
# Latin words a Chinese page may show: the product's name and units, and the seeded
# data's own names (members, branches, users, staff). Data a template shows as is (a
# rule set's name, a reason typed in) is marked translate="no" and not looked at; a code
# (with a digit, _, - or all capitals: SPEND200-GET20, kiosk-1, a short id) is no word.
ALLOWED_WORDS: Final = frozenset(
    [
        *("tapcard", "English", "JSON", "CSV", "PIN", "ID", "SKU", "MiB", "UTC"),
        *("Asia", "Shanghai", "Li", "Wei", "Ana", "Silva", "Bo", "Chen", "Shop", "one"),
        *("two", "hq", "mgr", "audit", "ana", "chain", "test"),
        *("SMTP", "Webhook"),  # protocol names, written so in Chinese text too
    ]
)
TOKEN = re.compile(r"[\w\-./@:]+")
CODE = re.compile(r"[\d_\-./@:]|^[A-Z]{2,}$")
LATIN = re.compile(r"[A-Za-z]{2,}")

# In the page: what is wrong with it, as a list of short texts.
CHECK_JS: Final = r"""
(lang) => {
  const problems = [];
  const el = document.scrollingElement;
  if (el.scrollWidth > window.innerWidth) {
    problems.push(`body scrolls sideways: ${el.scrollWidth} px > ${window.innerWidth} px`);
  }
  const skip = "SCRIPT,STYLE,PRE,CODE,TEMPLATE,NOSCRIPT";
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    if (!text) continue;
    const parent = n.parentElement;
    if (!parent || parent.closest(skip) || parent.closest("[lang]:not(html)")
        || parent.closest("[translate=no]")) continue;
    const box = parent.getBoundingClientRect();
    const style = getComputedStyle(parent);
    const open = !parent.closest("details:not([open])") || parent.closest("summary");
    if (style.visibility === "hidden" || style.display === "none" || !open) continue;
    if (box.width === 0 && box.height === 0 && parent.tagName !== "OPTION") continue;
    texts.push(text);
  }
  const money = new RegExp("(金额|储值|实付|单价|退款金额|已退款|Amount|Stored value|Paid"
    + "|Unit price|Money back|Refunded before|¥)");
  const looksLikeMoney = (t) => /¥|\d\.\d\d(?!\d)/.test(t);
  document.querySelectorAll("table").forEach((table) => {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    heads.forEach((head, i) => {
      if (!money.test(head) || /\bpoints?\b|积分/.test(head)) return;
      table.querySelectorAll("tbody tr").forEach((tr) => {
        const cell = tr.children[i];
        const t = cell ? cell.textContent.trim() : "";
        if (cell && !cell.hasAttribute("colspan") && /\d/.test(t) && !looksLikeMoney(t)) {
          problems.push(`raw figure under "${head}": ${t}`);
        }
      });
    });
  });
  document.querySelectorAll("dl dt").forEach((dt) => {
    const dd = dt.nextElementSibling;
    const t = dd ? dd.textContent.trim() : "";
    if (money.test(dt.textContent) && /\d/.test(t) && !looksLikeMoney(t)) {
      problems.push(`raw figure for "${dt.textContent.trim()}": ${t}`);
    }
  });
  return {problems, texts};
}
"""


@dataclass(frozen=True)
class Stop:
    name: str
    path: str
    status: int = 200
    logged_in: bool = True


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


def _segment(web_hub: WebHub) -> str:
    """A segment with members, its rules in words with no data word of Latin letters."""
    from hub import segments, tags

    hub, li = web_hub.seeded.hub, web_hub.seeded.members[0]
    rules = segments.parse('{"window_days": 30, "spend_min_cents": 10000, "visits_min": 1}')
    with hub.transaction() as conn:
        tags.add_tags(conn, li, ["常客"], "test")
        segments.add(conn, "regulars", "常客", rules, "test")
        segments.refresh(conn, "regulars")
    return "regulars"


def _stops(web_hub: WebHub, tx_id: str) -> list[Stop]:
    li, ana = web_hub.seeded.members
    return [
        Stop("fleet", "/fleet"),
        Stop("alerts", "/alerts"),
        Stop("members", "/members?q=13800"),
        Stop("members_top", "/members"),
        Stop("members_new", "/members?view=new"),
        Stop("member", f"/members/{li}"),
        Stop("reports", "/reports"),
        Stop("rules", "/rules"),
        Stop("users", "/users"),
        Stop("audit", "/audit"),
        Stop("device", f"/devices/{web_hub.seeded.device_id}"),
        Stop("refund", f"/transfers/{tx_id}/refund"),
        Stop("reverse", f"/transfers/{tx_id}/reverse"),
        Stop("leave", f"/members/{ana}/leave?refund=cash"),
        Stop("merge", f"/members/{ana}/merge?into={li}"),
        Stop("segments", "/segments"),
        Stop("segment", "/segments/regulars"),
        Stop("tag", f"/members/{li}/tags/confirm?change=add&tag=%E5%B8%B8%E5%AE%A2"),
        Stop("close_requests", "/portal/close-requests"),
        Stop("error", "/members/999999", status=404),
        Stop("login", "/login", logged_in=False),
    ]


def _untranslated(texts: list[str]) -> list[str]:
    found = []
    for text in texts:
        tokens = [t.strip(".:/-") for t in TOKEN.findall(text)]
        words = [t for t in tokens if LATIN.search(t) and not CODE.search(t)]
        if [w for w in words if w not in ALLOWED_WORDS]:
            found.append(f"untranslated: {text[:80]!r}")
    return found


def _check(page: Any, lang: str, where: str) -> list[str]:
    result = page.evaluate(CHECK_JS, lang)
    problems = list(result["problems"])
    if lang == "zh":
        problems += _untranslated(result["texts"])
    return [f"{where}: {p}" for p in dict.fromkeys(problems)]


def _log_in(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r".*/fleet.*"))


def _visit(page: Any, base: str, stop: Stop) -> tuple[int, str]:
    response = page.goto(base + stop.path, wait_until="load")
    return (response.status if response else 0), page.url


def _refund_confirm(page: Any, base: str, tx_id: str) -> None:
    page.goto(base + f"/transfers/{tx_id}/refund")
    page.fill("input[name=q1]", "1")
    page.fill("input[name=reason]", "wrong size")
    page.click("#refund-form button[type=submit]")
    page.locator("#refund-amounts").wait_for()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def _walk_language(browser: Any, base: str, lang: str, stops: list[Stop], tx_id: str) -> list[str]:
    problems: list[str] = []
    context = browser.new_context(
        locale=LOCALES[lang], viewport={"width": WIDTHS_PX[0], "height": HEIGHT_PX}
    )
    context.set_default_timeout(WAIT_MS)
    anonymous = context.new_page()
    page = context.new_page()
    _log_in(page, base)
    shots = shots_dir()
    for width in WIDTHS_PX:
        for tab in (page, anonymous):
            tab.set_viewport_size({"width": width, "height": HEIGHT_PX})
        for stop in stops:
            tab = page if stop.logged_in else anonymous
            status, url = _visit(tab, base, stop)
            where = f"{stop.name} {lang} {width}px"
            if status != stop.status:
                problems.append(f"{where}: status {status} at {url}")
                continue
            html_lang = tab.evaluate("document.documentElement.lang")
            if not html_lang.startswith(lang):
                problems.append(f"{where}: <html lang={html_lang!r}>")
            problems += _check(tab, lang, where)
            if width == WIDTHS_PX[0] or stop.name in PHONE_SHOTS:
                phone = "" if width == WIDTHS_PX[0] else "_phone"
                shot = shots / f"dashboard_{stop.name}_{lang}{phone}.png"
                tab.screenshot(path=str(shot), full_page=True)
        _refund_confirm(page, base, tx_id)
        problems += _check(page, lang, f"refund-confirm {lang} {width}px")
        if width == WIDTHS_PX[0]:
            shot = shots / f"dashboard_refund-confirm_{lang}.png"
            page.screenshot(path=str(shot), full_page=True)
    context.close()
    return problems


def test_every_page_in_both_languages_and_widths(
    web_hub: WebHub, live_server: WebServer, browser: Any
) -> None:
    tx_id = _sale(web_hub)
    with web_hub.seeded.hub.transaction() as conn:  # a row for the close-requests list
        portal.request_close(conn, web_hub.seeded.members[1], "", db_now(conn))
    _segment(web_hub)
    stops = _stops(web_hub, tx_id)
    problems: list[str] = []
    for lang in LOCALES:
        problems += _walk_language(browser, live_server.url, lang, stops, tx_id)
    assert not problems, "\n".join(problems)


def test_the_walk_catches_what_it_is_for(browser: Any) -> None:
    """The checks themselves: an English word, a raw cents figure and a too-wide table are
    each reported on a Chinese page; a translated page with ¥ passes."""
    page = browser.new_page(viewport={"width": 390, "height": HEIGHT_PX})
    bad = (
        "<html lang='zh-CN'><body><p>Stored value</p><table><thead><tr><th>金额</th></tr>"
        "</thead><tbody><tr><td>2681400</td></tr></tbody></table>"
        "<div style='width:800px'>宽</div></body></html>"
    )
    page.set_content(bad)
    problems = " | ".join(_check(page, "zh", "bad"))
    assert "untranslated: 'Stored value'" in problems
    assert 'raw figure under "金额": 2681400' in problems
    assert "body scrolls sideways" in problems
    good = (
        "<html lang='zh-CN'><body><p>储值 tapcard</p><table><thead><tr><th>金额</th></tr>"
        "</thead><tbody><tr><td>¥26,814.00</td></tr></tbody></table></body></html>"
    )
    page.set_content(good)
    assert _check(page, "zh", "good") == []
    page.close()
