"""A member's request to close the account, answered by HQ (hub/portal_close.py, the
list at /portal/close-requests in hub/web/pages_portal.py), on SQLite and PostgreSQL:
the list with balances and what stands in the way, a decline with its reason, the
account closed through the existing confirmation, the member's page and notices (sent
through the outbox to a real local HTTP server standing for the SMS provider), and the
phone that no longer logs in."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db, portal, portal_login
from hub.notices.channels import ChannelName
from hub.notices.outbox import deliver_due
from hub.notices.run import channels_from
from hub.web import i18n
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.web.conftest import BOTH_DATABASES, WebHub, log_in, web_hub_on
from tests.web.portal_support import SMS_TEMPLATES, SmsProvider, sms_provider

__all__ = ["sms_provider"]  # the fixture, used by name

LI_PHONE = "13800000001"
LIST = "/portal/close-requests"
ZONE = "Asia/Shanghai"
_MSGID = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')""")
Clients = Callable[[str], TestClient]


@pytest.fixture(params=BOTH_DATABASES)
def web_hub(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sms_provider: SmsProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebHub]:
    """The dashboard's hub on each database; the SMS provider also has a template for
    the answer to a close request."""
    templates = {**SMS_TEMPLATES, "close_request": "SMS_CLOSE_1"}
    monkeypatch.setenv("TAPCARD_NOTICE_SMS_TEMPLATES", json.dumps(templates))
    instance = web_hub_on(request, tmp_path)
    yield instance
    instance.seeded.hub.close()


@pytest.fixture
def clients(web_hub: WebHub) -> Iterator[Clients]:
    made: list[TestClient] = []

    def make(_who: str) -> TestClient:
        client = TestClient(web_hub.app, base_url="https://testserver")
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} field on the page"
    return found.group(1)


def _member_logs_in(client: TestClient, sms: SmsProvider) -> str:
    page = client.get("/m/login")
    asked = client.post(
        "/m/login/code", data={"phone": LI_PHONE, "token": _field(page.text, "token")}
    )
    done = client.post(
        "/m/login",
        data={
            "phone": LI_PHONE,
            "code": sms.last_code(LI_PHONE),
            "token": _field(asked.text, "token"),
        },
    )
    assert str(done.url).endswith("/m/"), done.text[:300]
    return _field(done.text, "csrf")


def _ask_to_close(client: TestClient, csrf: str, reason: str) -> None:
    sent = client.post("/m/close", data={"csrf": csrf, "reason": reason, "confirm": "yes"})
    assert str(sent.url).endswith("msg=close_sent")


def _deliver(web_hub: WebHub) -> None:
    hub = web_hub.seeded.hub
    sms = {ChannelName.SMS: channels_from()[ChannelName.SMS]}
    stats = deliver_due(hub.engine, sms, hub.clock, ZONE)
    assert stats.sent >= 1 and stats.dead == 0


def _state(web_hub: WebHub, member_id: int) -> list[tuple[str, str, str]]:
    c = db.close_requests
    with web_hub.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.c.state, c.c.decided_by, c.c.answer)
            .where(c.c.member_id == member_id)
            .order_by(c.c.id)
        )
        return [(r.state, r.decided_by, r.answer) for r in rows]


def _audited(web_hub: WebHub, action: str) -> list[tuple[str, str]]:
    a = db.audit
    with web_hub.seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(a.c.actor, a.c.target).where(a.c.action == action))
        return [(r.actor, r.target) for r in rows]


def test_every_text_of_the_list_has_a_chinese_entry() -> None:
    page = resources.files("hub.web") / "templates" / "portal" / "close_requests.html"
    table = i18n.catalog("zh")  # the dashboard's texts: the list is a dashboard page
    texts = [d or s for d, s in _MSGID.findall(page.read_text(encoding="utf-8"))]
    assert texts and [t for t in texts if t not in table] == []


def test_hq_declines_then_closes_and_the_member_is_told(
    web_hub: WebHub, clients: Clients, sms_provider: SmsProvider
) -> None:
    hub, (li, ana) = web_hub.seeded.hub, web_hub.seeded.members
    phone = clients("li")
    csrf = _member_logs_in(phone, sms_provider)
    consent = {"csrf": csrf, "sms.service": "yes"}  # service messages by SMS, no marketing
    assert str(phone.post("/m/consent", data=consent).url).endswith("msg=consent_saved")
    _ask_to_close(phone, csrf, "moving away")
    credit(hub, ana, Asset.CENTS, 5_000)  # Ana holds ¥50: her account cannot close yet
    with hub.transaction() as conn:
        portal.request_close(conn, ana, "", hub.clock.now_ms())

    hq = clients("hq")
    hq_csrf = log_in(hq, "hq")
    listing = hq.get(LIST)
    assert listing.status_code == 200 and "会员注销申请" in listing.text  # zh first
    assert f'href="/members/{li}"' in listing.text and "Li Wei" in listing.text
    assert "须先退还储值 ¥50.00" in listing.text  # what stands in the way of Ana's
    assert f'href="/members/{li}/close"' in listing.text and "2026-06-10 14:" in listing.text
    english = hq.get(f"/lang/en?next={LIST}")
    assert "Refund ¥50.00 of stored value first" in english.text
    for who, sees in (("mgr1", 403), ("audit", 200)):  # HQ only; the auditor only reads
        other = clients(who)
        other_csrf = log_in(other, who)
        assert other.get(LIST).status_code == sees
        refused = other.post(f"{LIST}/1/decline", data={"csrf": other_csrf, "answer": "no way"})
        assert refused.status_code == 403
    with hub.engine.connect() as conn:
        [li_request, _ana_request] = [r["id"] for r in portal.close_requests(conn)]
    short = hq.post(f"{LIST}/{li_request}/decline", data={"csrf": hq_csrf, "answer": "x"})
    assert "error=" in str(short.url) and _state(web_hub, li)[0][0] == "open"
    answer = "please collect your car first"
    declined = hq.post(f"{LIST}/{li_request}/decline", data={"csrf": hq_csrf, "answer": answer})
    assert f"Request of member #{li} declined" in declined.text  # in English since the switch
    assert _state(web_hub, li) == [("declined", "web:hq", answer)]
    assert _audited(web_hub, "member.close_declined") == [("web:hq", str(li))]
    _deliver(web_hub)
    told = sms_provider.sent[-1]
    assert told["template_id"] == "SMS_CLOSE_1" and told["phone"] == LI_PHONE
    assert "未获办理" in told["text"] and answer in told["text"]
    home = phone.get("/m/")
    assert "总部未同意您的注销申请" in home.text and answer in home.text
    history = hq.get(f"{LIST}?show=history")
    assert answer in history.text and "web:hq" in history.text

    _ask_to_close(phone, csrf, "still moving")
    assert "正在等待总部处理" in phone.get("/m/").text
    assert "pending with HQ" in phone.get("/lang/en?next=/m/").text
    page = hq.get(f"/members/{li}/close")
    assert 'id="close-form"' in page.text
    closed = hq.post(f"/members/{li}/close", data={"csrf": hq_csrf, "reason": "the member asked"})
    assert closed.status_code == 200
    [_declined, done] = _state(web_hub, li)
    assert done == ("done", "web:hq", "")
    assert _audited(web_hub, "member.close_done") == [("web:hq", str(li))]
    _deliver(web_hub)
    assert "账户已注销" in sms_provider.sent[-1]["text"]
    assert sms_provider.sent[-1]["phone"] == LI_PHONE  # the address taken before the wipe
    _the_closing_notice_names_nobody(web_hub, li)
    assert "web:hq" in hq.get(f"{LIST}?show=history").text
    assert f'id="close-request-{li_request}"' not in hq.get(LIST).text
    _the_phone_no_longer_logs_in(web_hub, phone, sms_provider)


def _the_closing_notice_names_nobody(web_hub: WebHub, li: int) -> None:
    n = db.notices
    with web_hub.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(n.c.kind, n.c.address, n.c.body, n.c.data).where(n.c.member_id == li)
        ).all()
    kept = [r for r in rows if r.kind == "close_request" and r.address]
    assert len(kept) == 1  # the declined one was wiped with the person; this one kept
    data = msgspec.json.decode(kept[0].data.encode(), type=dict[str, str])
    assert "Li Wei" not in kept[0].body and "name" not in data


def _the_phone_no_longer_logs_in(web_hub: WebHub, phone: TestClient, sms: SmsProvider) -> None:
    ended = phone.get("/m/", follow_redirects=False)  # the session ends at its next page
    assert ended.status_code == 303 and ended.headers["location"] == "/m/login?msg=closed"
    phone.get("/lang/zh?next=/m/login")
    assert "此账户已注销" in phone.get("/m/login?msg=closed").text
    hub, before = web_hub.seeded.hub, len(sms.sent)
    later = hub.clock.now_ms() + 2 * portal_login.PHONE_GAP_MS  # past the per-phone gap
    sms_channel = channels_from()[ChannelName.SMS]
    with hub.transaction() as conn:
        asked = portal_login.send_code(
            conn, hub.secrets, sms_channel, LI_PHONE, "10.9.9.9", "zh", later
        )
    assert not asked.sent and len(sms.sent) == before  # no member has this phone now
