"""The member page (hub/portal_login.py, hub/portal.py, hub/web/pages_portal.py) over
HTTP: the login by SMS code with its limits, each page, consent and the close request.
The SMS goes to a real local HTTP server standing for the provider."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db, portal, portal_login, privacy_keys
from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import consenting
from hub.web import portal_web
from tests.web.conftest import WebHub
from tests.web.portal_support import SmsProvider, sms_provider

__all__ = ["sms_provider"]  # the fixture, used by name

LI_PHONE = "13800000001"
_MSGID = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')""")


@pytest.fixture
def client(web_hub: WebHub, sms_provider: SmsProvider) -> Iterator[TestClient]:
    with TestClient(web_hub.app, base_url="https://testserver") as found:
        yield found


def _token(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, "no login token on the page"
    return found.group(1)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def _log_in(client: TestClient, sms: SmsProvider, phone: str = LI_PHONE) -> str:
    page = client.get("/m/login")
    asked = client.post("/m/login/code", data={"phone": phone, "token": _token(page.text)})
    assert asked.status_code == 200 and 'name="code"' in asked.text, asked.text[:400]
    done = client.post(
        "/m/login",
        data={"phone": phone, "code": sms.last_code(phone), "token": _token(asked.text)},
    )
    assert done.status_code == 200 and str(done.url).endswith("/m/"), done.text[:400]
    return _csrf(done.text)


def test_every_portal_text_has_a_chinese_entry() -> None:
    table = portal_web.catalog("zh")
    folder = resources.files("hub.web") / "templates" / "portal"
    missing = [
        double or single
        for page in folder.iterdir()
        if page.name.endswith(".html")
        for double, single in _MSGID.findall(page.read_text(encoding="utf-8"))
        if (double or single) not in table
    ]
    missing += [text for text in portal_web.WORDS.values() if text not in table]
    assert not missing, f"no zh entry in portal.po: {missing}"


def test_login_by_sms_code_then_the_pages(
    web_hub: WebHub, client: TestClient, sms_provider: SmsProvider
) -> None:
    assert client.get("/m/", follow_redirects=False).headers["location"] == "/m/login"
    csrf = _log_in(client, sms_provider)
    [sent] = sms_provider.sent
    assert sent["template_id"] == "SMS_LOGIN_1" and sent["phone"] == LI_PHONE
    assert "验证码" in sent["text"]  # the member's language: zh unless they chose en
    with web_hub.seeded.hub.engine.connect() as conn:
        stored = conn.execute(sa.select(db.portal_codes.c.code_hash)).scalars().all()
        phones = conn.execute(sa.select(db.portal_codes.c.phone)).scalars().all()
    assert stored and sms_provider.last_code(LI_PHONE) not in stored[0]  # only its HMAC
    assert phones == [privacy_keys.phone_index(LI_PHONE)]  # the phone's blind index only
    home = client.get("/m/")
    assert "¥0.00" in home.text and "Li Wei" in home.text
    for path in ("/m/qr", "/m/history", "/m/vouchers", "/m/profile", "/m/consent", "/m/close"):
        assert client.get(path).status_code == 200, path
    assert "TCM2." in client.get("/m/qr").text and "<svg" in client.get("/m/qr").text
    # The code was used: the same code again is refused.
    again = client.post(
        "/m/login",
        data={"phone": LI_PHONE, "code": sms_provider.last_code(LI_PHONE), "token": "x"},
    )
    assert again.status_code == 400
    out = client.post("/m/logout", data={"csrf": csrf})
    assert str(out.url).endswith("/m/login?msg=logged_out")
    assert client.get("/m/", follow_redirects=False).status_code == 303


def test_an_unknown_phone_gets_the_same_page_and_no_sms(
    client: TestClient, sms_provider: SmsProvider
) -> None:
    page = client.get("/m/login")
    asked = client.post("/m/login/code", data={"phone": "13999999999", "token": _token(page.text)})
    assert asked.status_code == 200 and 'name="code"' in asked.text
    assert sms_provider.sent == []


def test_limits_per_phone_per_address_and_tries(web_hub: WebHub) -> None:
    hub, now = web_hub.seeded.hub, 1_800_000_000_000
    sms_sent: list[str] = []

    class Recorder:  # a channel that keeps what it was given: the limits are the hub's
        name = ChannelName.SMS

        def send(self, notice: object) -> None:
            sms_sent.append(str(getattr(notice, "data", {}).get("code", "")))

    channel = Recorder()
    with hub.transaction() as conn:
        portal_login.send_code(conn, hub.secrets, channel, LI_PHONE, "10.0.0.1", "zh", now)
        with pytest.raises(portal_login.PortalRefused) as soon:
            portal_login.send_code(conn, hub.secrets, channel, LI_PHONE, "10.0.0.1", "zh", now)
        assert soon.value.reason == "wait"
        for _ in range(portal_login.CODE_TRIES_MAX):
            with pytest.raises(portal_login.PortalRefused) as wrong:
                portal_login.check_code(conn, hub.secrets, LI_PHONE, "000000", now + 1)
            assert wrong.value.reason in ("bad_code", "code_dead")
        with pytest.raises(portal_login.PortalRefused) as dead:  # even the right code
            portal_login.check_code(conn, hub.secrets, LI_PHONE, sms_sent[-1], now + 2)
        assert dead.value.reason == "code_dead"
        later = now + portal_login.PHONE_GAP_MS
        portal_login.send_code(conn, hub.secrets, channel, LI_PHONE, "10.0.0.1", "zh", later)
        with pytest.raises(portal_login.PortalRefused) as old:
            portal_login.check_code(
                conn, hub.secrets, LI_PHONE, sms_sent[-1], later + portal_login.CODE_LIFETIME_MS
            )
        assert old.value.reason == "code_expired"
        for i in range(portal_login.ADDRESS_CODES_MAX - 2):  # other phones, one address
            phone = f"1390000{i:04d}"
            portal_login.send_code(conn, hub.secrets, channel, phone, "10.0.0.1", "zh", later)
        with pytest.raises(portal_login.PortalRefused) as busy:
            portal_login.send_code(
                conn, hub.secrets, channel, "13911110000", "10.0.0.1", "zh", later
            )
        assert busy.value.reason == "too_many"
        member = portal_login.send_code(
            conn, hub.secrets, channel, "13911110000", "10.0.0.2", "zh", later
        )
        assert not member.sent  # no member has it: recorded, counted, not sent
        assert portal_login.session_member(hub.secrets, "1.9999999999999.bad", now) is None
        gone = portal_login.prune_codes(conn, later + portal_login.WINDOW_MS + 1)
        assert gone == portal_login.ADDRESS_CODES_MAX + 1  # every code of the hour above
        session = portal_login.open_session(hub.secrets, 7, now)
        assert portal_login.session_member(hub.secrets, session, now) == 7
        assert (
            portal_login.session_member(hub.secrets, session, now + portal_login.SESSION_MS) is None
        )


def test_profile_consent_and_close_request(
    web_hub: WebHub, client: TestClient, sms_provider: SmsProvider
) -> None:
    hub, li = web_hub.seeded.hub, web_hub.seeded.members[0]
    csrf = _log_in(client, sms_provider)
    bad = client.post("/m/profile", data={"csrf": csrf, "name": "Li Wei", "birthday": "1990-13-01"})
    assert str(bad.url).endswith("msg=invalid")
    saved = client.post(
        "/m/profile", data={"csrf": csrf, "name": "Li Wei", "birthday": "1990-05-01"}
    )
    assert str(saved.url).endswith("msg=saved") and "1990-05-01" in saved.text
    forged = client.post("/m/consent", data={"csrf": "wrong", "sms.marketing": "yes"})
    assert str(forged.url).endswith("msg=form")
    client.post("/m/consent", data={"csrf": csrf, "sms.marketing": "yes", "email.service": "yes"})
    with hub.engine.connect() as conn:
        assert consenting(conn, [li], ChannelName.SMS, Purpose.MARKETING) == {li}
        assert consenting(conn, [li], ChannelName.EMAIL, Purpose.SERVICE) == {li}
        assert consenting(conn, [li], ChannelName.WECHAT, Purpose.MARKETING) == set()
        audited = conn.execute(
            sa.select(sa.func.count()).where(
                db.audit.c.actor == f"member:{li}", db.audit.c.action == "member.consent"
            )
        ).scalar_one()
    assert audited == 2
    unconfirmed = client.post("/m/close", data={"csrf": csrf, "reason": "moving"})
    assert str(unconfirmed.url).endswith("msg=confirm")
    sent = client.post("/m/close", data={"csrf": csrf, "reason": "moving", "confirm": "yes"})
    assert str(sent.url).endswith("msg=close_sent")
    twice = client.post("/m/close", data={"csrf": csrf, "reason": "x", "confirm": "yes"})
    assert str(twice.url).endswith("msg=close_open")
    with hub.engine.connect() as conn:
        assert [(r["member_id"], r["reason"]) for r in portal.close_requests(conn)] == [
            (li, "moving")
        ]
