"""Who may see and change what: a branch manager only their branch, an auditor nothing,
no session means no access, and a POST without the session's CSRF token is refused.
One test runs the whole dashboard on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db
from hub.config import HubConfig
from tests.web.conftest import WebHub, log_in, make_web_hub

Client = Callable[[str], tuple[TestClient, str]]


def _card_state(web_hub: WebHub, card: str) -> str:
    with web_hub.seeded.hub.engine.connect() as conn:
        return str(conn.execute(sa.select(db.cards.c.state).where(db.cards.c.id == card)).scalar())


def test_branch_manager_sees_and_changes_only_their_branch(
    web_hub: WebHub, client_for: Client
) -> None:
    client, csrf = client_for("mgr1")
    fleet = client.get("/api/fleet").json()
    assert {d["branch"] for d in fleet} == {"shop-1"}
    assert "kiosk-2" not in client.get("/fleet").text
    assert client.get("/devices/kiosk-2").status_code == 403
    assert client.get(f"/members/{web_hub.other_member}").status_code == 403
    assert client.get("/api/members", params={"q": "Bo Chen"}).json() == []
    refused = client.post(f"/cards/{web_hub.other_card}/lost", data={"csrf": csrf})
    assert refused.status_code == 403
    assert _card_state(web_hub, web_hub.other_card) == "active"
    turnover = client.get("/api/reports/turnover", params={"branch": "shop-2"}).json()
    assert all(row["branch"] == "shop-1" for row in turnover)  # asked for shop-2, got own
    assert client.get("/users").status_code == 403
    assert client.get("/audit").status_code == 403


def test_auditor_reads_everything_and_changes_nothing(web_hub: WebHub, client_for: Client) -> None:
    client, csrf = client_for("audit")
    assert {d["branch"] for d in client.get("/api/fleet").json()} == {"shop-1", "shop-2"}
    assert client.get(f"/members/{web_hub.other_member}").status_code == 200
    card = web_hub.seeded.cards[0]
    assert client.post(f"/cards/{card}/lost", data={"csrf": csrf}).status_code == 403
    assert client.post("/alerts/ack", data={"csrf": csrf, "key": "x"}).status_code == 403
    assert client.post("/rules", data={"csrf": csrf}).status_code == 403
    headers = {"X-CSRF-Token": csrf}
    assert client.post(f"/api/cards/{card}/lost", headers=headers).status_code == 403
    assert _card_state(web_hub, card) == "active"
    assert "Report lost" not in client.get(f"/members/{web_hub.seeded.members[0]}").text


def test_no_session_and_bad_csrf_are_refused(web_hub: WebHub, client_for: Client) -> None:
    card = web_hub.seeded.cards[0]
    with TestClient(web_hub.app, base_url="https://testserver") as anonymous:
        page = anonymous.get("/fleet", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert anonymous.get("/api/fleet").status_code == 401
        assert anonymous.get("/api/events").status_code == 401
        assert anonymous.post(f"/cards/{card}/lost", follow_redirects=False).status_code == 303
        assert anonymous.post(f"/api/cards/{card}/lost").status_code == 401
        wrong = anonymous.post("/login", data={"username": "hq", "password": "x" * 12, "csrf": "x"})
        assert "expired" in wrong.text  # the login form's own double-submit token
    client, csrf = client_for("hq")
    assert client.post(f"/cards/{card}/lost", data={}).status_code == 403
    assert client.post(f"/cards/{card}/lost", data={"csrf": csrf[:-1] + "x"}).status_code == 403
    assert client.post(f"/api/cards/{card}/lost").status_code == 403
    assert _card_state(web_hub, card) == "active"
    ok = client.post(f"/api/cards/{card}/lost", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and _card_state(web_hub, card) == "lost"


def test_wrong_password_and_logout(web_hub: WebHub, client_for: Client) -> None:
    with TestClient(web_hub.app, base_url="https://testserver") as client:
        page = client.get("/login")
        from tests.web.conftest import csrf_of

        bad = client.post(
            "/login",
            data={"username": "hq", "password": "wrong-password", "csrf": csrf_of(page.text)},
        )
        assert "wrong username or password" in bad.text
        cookie = client.cookies.get("tapcard_session")
        assert cookie is None
        csrf = log_in(client, "hq")
        session = client.cookies.get("tapcard_session")
        assert session
        out = client.post("/logout", data={"csrf": csrf})
        assert "logged out" in out.text
        client.cookies.set("tapcard_session", session)
        assert client.get("/api/fleet").status_code == 401  # the session is gone server-side


def test_session_cookie_flags(web_hub: WebHub) -> None:
    with TestClient(web_hub.app, base_url="https://testserver") as client:
        page = client.get("/login")
        from tests.web.conftest import PASSWORD, csrf_of

        response = client.post(
            "/login",
            data={"username": "hq", "password": PASSWORD, "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        cookie = next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and "tapcard_session" in v
        )
        lowered = cookie.lower()
        assert "httponly" in lowered and "secure" in lowered and "samesite=strict" in lowered


def test_dashboard_on_postgres(pg_url: str, tmp_path: Path) -> None:
    instance = make_web_hub(HubConfig(tmp_path / "hub", pg_url, None))
    try:
        with TestClient(instance.app, base_url="https://testserver") as client:
            csrf = log_in(client, "mgr1")
            for path in (
                "/fleet",
                "/alerts",
                "/reports?name=points",
                "/reports?name=staff",
                "/reports?name=new_members",
                "/reports?name=cards",
                "/rules",
            ):
                assert client.get(path).status_code == 200, path
            card = instance.seeded.cards[1]
            page = client.post(f"/cards/{card}/lost", data={"csrf": csrf})
            assert "reported lost" in page.text
            assert client.get("/api/alerts").status_code == 200
    finally:
        instance.seeded.hub.close()
