"""Dashboard (issue 17): segments and a member's tags, on SQLite and PostgreSQL.

Scenario: HQ tags Li "vip" from his page (a confirmation naming him and the tag first),
previews rules typed as JSON (the count and the rules in words, nothing written), saves
the segment (audited as the CLI's `segment add`), sees Li in it by name, tags Ana and
refreshes it now: two members. A branch manager may preview and look but not save or
refresh, and sees only their branch's members of a segment; they tag their own branch's
members, not another's; an auditor changes nothing. The menu shows each role its links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db, segments, tags
from hub.web import segment_words
from hub.web.i18n import catalog
from tests.web.conftest import BOTH_DATABASES, WebHub, web_hub_on

Client = Callable[[str], tuple[TestClient, str]]
VIP = '{"tags_any": ["vip"]}'


@pytest.fixture(params=BOTH_DATABASES)
def web_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebHub]:
    """The dashboard's hub (tests/web/conftest.py) on each database."""
    instance = web_hub_on(request, tmp_path)
    yield instance
    instance.seeded.hub.close()


def _audited(web_hub: WebHub, action: str) -> list[tuple[str, str, str]]:
    a = db.audit
    with web_hub.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.c.actor, a.c.target, a.c.detail).where(a.c.action == action)
        )
        return [(r.actor, r.target, r.detail) for r in rows]


def _tag(client: TestClient, csrf: str, member: int, tag: str, change: str = "add") -> str:
    """The confirmation, then its form; the page it lands on."""
    confirm = client.get(f"/members/{member}/tags/confirm", params={"tag": tag, "change": change})
    assert confirm.status_code == 200 and "tag-form" in confirm.text
    form = {"csrf": csrf, "change": change, "tag": tag}
    page = client.post(f"/members/{member}/tags", data=form)
    assert page.status_code == 200
    return str(page.text)


def test_tags_on_the_member_page_after_a_confirmation(web_hub: WebHub, client_for: Client) -> None:
    li, ana = web_hub.seeded.members
    hq, csrf = client_for("hq")
    hq.cookies.set("tapcard_lang", "en")
    page = hq.get(f"/members/{li}").text
    assert 'id="tag-add"' in page
    confirm = hq.get(f"/members/{li}/tags/confirm", params={"tag": " vip ", "change": "add"})
    assert "Add a tag to member" in confirm.text and "Li Wei" in confirm.text
    assert 'id="tag-name" translate="no">vip<' in confirm.text
    with web_hub.seeded.hub.engine.connect() as conn:
        assert tags.tags_of(conn, li) == []  # nothing before the form
    done = _tag(hq, csrf, li, "vip")
    assert f"tag vip added to member #{li}" in done and "tag-remove" in done
    assert _audited(web_hub, "member.tag.add") == [("web:hq", str(li), '{"tag":"vip"}')]
    assert "nothing changed" in _tag(hq, csrf, li, "vip")
    bad = {"csrf": "x", "change": "add", "tag": "car"}
    assert hq.post(f"/members/{li}/tags", data=bad).status_code == 403
    long = hq.get(f"/members/{li}/tags/confirm", params={"tag": "x" * 60}).text
    assert "The tag was not changed: a tag is 1-48 characters" in long
    hq.cookies.set("tapcard_lang", "zh")
    zh = hq.get(f"/members/{li}/tags/confirm", params={"tag": "vip", "change": "remove"}).text
    assert "移除会员" in zh and "移除此标签" in zh
    gone = _tag(hq, csrf, li, "vip", "remove")
    assert f"已移除会员 #{li} 的标签 vip" in gone
    assert _audited(web_hub, "member.tag.remove") == [("web:hq", str(li), '{"tag":"vip"}')]
    assert hq.get(f"/members/{li}/tags/confirm?tag=vip&change=remove").status_code == 404
    manager, manager_csrf = client_for("mgr1")
    assert f"已给会员 #{ana} 添加标签 car" in _tag(manager, manager_csrf, ana, "car")
    other = web_hub.other_member  # shop-2's
    assert manager.get(f"/members/{other}/tags/confirm?tag=car").status_code == 403
    form = {"csrf": manager_csrf, "change": "add", "tag": "car"}
    assert manager.post(f"/members/{other}/tags", data=form).status_code == 403
    auditor, auditor_csrf = client_for("audit")
    assert 'id="tag-add"' not in auditor.get(f"/members/{ana}").text
    assert auditor.get(f"/members/{ana}/tags/confirm?tag=car").status_code == 403
    form = {"csrf": auditor_csrf, "change": "remove", "tag": "car"}
    assert auditor.post(f"/members/{ana}/tags", data=form).status_code == 403
    with web_hub.seeded.hub.engine.connect() as conn:
        assert (tags.tags_of(conn, ana), tags.tags_of(conn, other)) == (["car"], [])


def test_preview_save_and_refresh_a_segment(web_hub: WebHub, client_for: Client) -> None:
    li, ana = web_hub.seeded.members
    hq, csrf = client_for("hq")
    hq.cookies.set("tapcard_lang", "en")
    assert "No segments yet." in hq.get("/segments").text
    _tag(hq, csrf, li, "vip")
    form = {"csrf": csrf, "code": "vip", "name": "VIP members", "rules": VIP}
    preview = hq.post("/segments/preview", data=form).text
    assert "1 members match now" in preview and "Tagged any of: vip" in preview
    assert "VIP members" in preview  # the typed form kept
    with web_hub.seeded.hub.engine.connect() as conn:
        assert segments.listed(conn) == []  # a preview writes nothing
    wrong = hq.post("/segments/preview", data={**form, "rules": '{"tier": 1}'}).text
    assert "The rules are not valid:" in wrong and "There is no rule called tier." in wrong
    bad_code = hq.post("/segments", data={**form, "code": "VIP!"}).text
    assert "A segment code is 1-48 of a-z" in bad_code
    saved = hq.post("/segments", data=form)
    assert saved.url.path == "/segments/vip" and "segment vip saved: 1 members" in saved.text
    assert "Li Wei" in saved.text and "Ana Silva" not in saved.text
    assert "Tagged any of: vip" in saved.text and "tags_any" not in saved.text
    [(actor, target, _detail)] = _audited(web_hub, "segment.add")
    assert (actor, target) == ("web:hq", "vip")
    again = hq.post("/segments", data=form).text
    assert "Segment vip exists already." in again
    _tag(hq, csrf, ana, "vip")
    assert "Ana Silva" not in hq.get("/segments/vip").text  # as of the last refresh
    refreshed = hq.post("/segments/vip/refresh", data={"csrf": csrf}).text
    assert "segment vip refreshed: 2 members" in refreshed and "Ana Silva" in refreshed
    listing = hq.get("/segments").text
    assert 'id="segment-vip"' in listing and ">2<" in listing and "never" not in listing
    hq.cookies.set("tapcard_lang", "zh")
    zh = hq.get("/segments/vip").text
    assert "会员分群" in zh and "带有以下任一标签" in zh and "立即刷新" in zh
    zh_wrong = hq.post("/segments/preview", data={**form, "rules": "{"}).text
    assert "规则无效" in zh_wrong and "规则不是有效的 JSON" in zh_wrong
    zh_kind = hq.post("/segments/preview", data={**form, "rules": '{"tags_any": 3}'}).text
    assert "规则 tags_any 的值应为列表 [ ]" in zh_kind
    assert hq.get("/segments/nope").status_code == 404


def test_a_branch_manager_previews_and_looks_but_hq_saves(
    web_hub: WebHub, client_for: Client
) -> None:
    seeded, other = web_hub.seeded, web_hub.other_member
    with seeded.hub.transaction() as conn:
        tags.add_tags(conn, seeded.members[0], ["vip"], "test")
        tags.add_tags(conn, other, ["vip"], "test")
        segments.add(conn, "vip", "VIP", segments.parse(VIP), "test")
        segments.refresh(conn, "vip")
    manager, csrf = client_for("mgr1")
    manager.cookies.set("tapcard_lang", "en")
    page = manager.get("/segments/vip").text
    assert "Li Wei" in page and "Bo Chen" not in page and "segment-refresh" not in page
    assert 'id="segment-save"' not in manager.get("/segments").text
    form = {"csrf": csrf, "code": "mine", "name": "Mine", "rules": "{}"}
    assert "members match now" in manager.post("/segments/preview", data=form).text
    assert manager.post("/segments/preview", data={**form, "csrf": "x"}).status_code == 403
    assert manager.post("/segments", data=form).status_code == 403
    assert manager.post("/segments/vip/refresh", data={"csrf": csrf}).status_code == 403
    auditor, auditor_csrf = client_for("audit")
    assert "Bo Chen" in auditor.get("/segments/vip").text
    assert auditor.post("/segments", data={**form, "csrf": auditor_csrf}).status_code == 403
    with seeded.hub.engine.connect() as conn:
        assert [r["code"] for r in segments.listed(conn)] == ["vip"]


def test_the_menu_shows_each_role_its_pages(web_hub: WebHub, client_for: Client) -> None:
    hq, _ = client_for("hq")
    nav = hq.get("/fleet").text
    for link in ("/segments", "/portal/close-requests", "/privacy/access"):
        assert f'href="{link}"' in nav, link
    manager, _ = client_for("mgr1")
    nav = manager.get("/fleet").text
    assert 'href="/segments"' in nav
    assert 'href="/portal/close-requests"' not in nav and 'href="/privacy/access"' not in nav


def test_rule_words_have_their_chinese_entries() -> None:
    table = catalog("zh")
    words = [*segment_words.MSGIDS, *(m for _p, m in segment_words.ERRORS)]
    words += segment_words.KINDS.values()
    assert [m for m in words if m not in table] == []
    rules = segments.parse(
        '{"spend_min_cents": 50000, "visits_min": 2, "birthday_month": 5, "r_min": 4,'
        ' "card_kinds": ["parking"], "consent_channel": "sms", "window_days": 30}'
    )
    en = segment_words.rule_lines(rules, lambda m, **v: m.format(**v) if v else m)
    assert "Spent at least ¥500.00 in the last 30 days" in en
    assert "Recency score between 4 and 5 (1-5, over the last 30 days)" in en
    assert "Agreed to marketing by SMS" in en and "Birthday in month 5" in en
