"""The dashboard's languages, money and times.

Scenario: a cashier's browser asks for zh-CN and gets Chinese; an HQ analyst picks
English with the switch and keeps it; every text a template wraps in `_()` has its
Chinese entry, so no page shows English to a Chinese user by omission; money is ¥ with
thousands separators and times are in the business zone, never UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Callable
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from hub.web import alert_store, alerts, i18n, pages_fleet, reporting

ZH_RULES = "kiosk-1 运行规则 0，最新为 1"  # noqa: RUF001 (the Chinese comma)
# `_("text")` or `_('text')` in a template (the first argument only: fields are {name}).
_MSGID = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-TW", "zh"),
        ("en;q=0.5, zh;q=0.6", "zh"),
        ("fr-FR,en;q=0.7", "en"),
        ("fr-FR,de", None),
        ("en;q=0, zh;q=bogus", None),
        ("", None),
    ],
)
def test_browser_language(header: str, lang: str | None) -> None:
    assert i18n.browser_lang(header) == lang


def test_money_and_yuan() -> None:
    assert i18n.money(123456789) == "¥1,234,567.89"
    assert i18n.money(-5) == "-¥0.05"
    assert i18n.money(None) == "¥0.00"
    assert i18n.yuan(100000) == "1,000.00"


def test_local_time_is_the_business_zone() -> None:
    # 2024-01-01 00:00 UTC is 08:00 in Shanghai
    stamp = i18n.local_time(1_704_067_200_000, ZoneInfo("Asia/Shanghai"))
    assert stamp.strftime("%Y-%m-%d %H:%M") == "2024-01-01 08:00"


def test_every_template_text_has_a_chinese_entry() -> None:
    folder = resources.files("hub.web") / "templates"
    table = i18n.catalog("zh")
    missing: dict[str, list[str]] = {}
    for page in folder.iterdir():
        if not page.name.endswith(".html"):
            continue
        for double, single in _MSGID.findall(page.read_text(encoding="utf-8")):
            text = double or single
            if text not in table:
                missing.setdefault(page.name, []).append(text)
    assert not missing, f"texts with no zh entry in dashboard.po: {missing}"


def _server_msgids() -> list[str]:
    """Texts the hub makes and a page translates: alert texts (with their values), report
    titles, column words, date presets and the chart's "other"."""
    presets = [words for words, _first, _last in reporting.presets(dt.date(2024, 5, 15))]
    titles = [title for title, _run in reporting.REPORTS.values()]
    return [*alerts.MSGIDS, *titles, *reporting.COLUMNS.values(), *presets, reporting.OTHER]


def test_every_server_made_text_has_a_chinese_entry_with_the_same_fields() -> None:
    table = i18n.catalog("zh")
    fields = string.Formatter()
    for msgid in _server_msgids():
        assert msgid in table, f"no zh entry in dashboard.po for {msgid!r}"
        wanted = {name for _t, name, _f, _c in fields.parse(msgid) if name}
        got = {name for _t, name, _f, _c in fields.parse(table[msgid]) if name}
        assert got == wanted, f"{msgid!r}: zh has {got}, English {wanted}"


def test_an_alert_and_its_history_row_show_in_the_pages_language() -> None:
    """The alert keeps its English text and its msgid with values; the history row it
    opens holds both, so a closed alert reads in Chinese too."""
    alert = alerts._alert(
        "rules:kiosk-1",
        "rules",
        "b1",
        "kiosk-1",
        0,
        "{device} runs rules {version}, latest is {latest}",
        device="kiosk-1",
        version=0,
        latest=1,
    )
    assert alert.message == "kiosk-1 runs rules 0, latest is 1"
    zh = i18n.translator("zh")
    assert zh(alert.msgid, **alert.values()) == ZH_RULES
    row = alert_store.history_row({"message": alert_store.stored_message(alert)})
    assert row["message"] == alert.message
    assert zh(row["msgid"], **row["fields"]) == ZH_RULES
    old = alert_store.history_row({"message": "kiosk-1 runs rules 0, latest is 1"})
    assert old["msgid"] == "" and old["message"] == "kiosk-1 runs rules 0, latest is 1"


def test_browser_and_switch_choose_the_language(
    client_for: Callable[[str], tuple[TestClient, str]],
) -> None:
    client, _csrf = client_for("hq")
    zh = client.get("/members", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in zh.text and "会员" in zh.text
    en = client.get("/members", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in en.text and ">Members</a>" in en.text
    assert "Times are local to Asia/Shanghai." in en.text
    switched = client.get("/lang/en?next=/members%3Fq%3Dx", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/members?q=x"
    client.cookies.set(i18n.LANG_COOKIE, "en")
    chosen = client.get("/members", headers={"accept-language": "zh-CN"})
    assert '<html lang="en">' in chosen.text


def test_an_outcome_is_translated_with_its_values(
    client_for: Callable[[str], tuple[TestClient, str]],
) -> None:
    """The one-line outcome after a change (acknowledging alerts) reads as a whole
    sentence in the page's language; a made-up text cannot format itself, and a known
    one whose values are missing shows as it is instead of failing the page."""
    client, _csrf = client_for("hq")
    done = pages_fleet.done("/members", msg="acknowledged {n} alerts", n=2)
    target = done.headers["location"]
    assert target == "/members?msg=acknowledged%20%7Bn%7D%20alerts&m_n=2"
    zh = client.get(target, headers={"accept-language": "zh-CN"})
    assert "已确认 2 条提醒" in zh.text
    en = client.get(target, headers={"accept-language": "en"})
    assert "acknowledged 2 alerts</p>" in en.text
    made_up = client.get("/members", params={"msg": "{x.__class__}", "m_x": "a"})
    assert made_up.status_code == 200 and "{x.__class__}" in made_up.text
    short = client.get("/members", params={"msg": "acknowledged {n} alerts", "m_key": "a"})
    assert short.status_code == 200 and "{n}" in short.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil", "x"])
def test_the_switch_redirects_only_within_the_site(
    client_for: Callable[[str], tuple[TestClient, str]], target: str
) -> None:
    client, _csrf = client_for("hq")
    response = client.get("/lang/zh", params={"next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"
