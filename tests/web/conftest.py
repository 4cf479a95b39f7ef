"""Dashboard fixtures: a seeded hub with one user per role, a logged-in test client,
and a real uvicorn server on a free port (for the browser and event-stream tests)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub import admin
from hub.config import HubConfig
from hub.web import auth
from hub.web.app import create_app
from hub.web.server import WebServer
from hub.web.settings import WebSettings
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.conftest import Seeded, seed_hub

PASSWORD = "correct horse battery"
USERS = {
    "hq": ("admin", None),
    "mgr1": ("manager", "shop-1"),
    "mgr2": ("manager", "shop-2"),
    "audit": ("auditor", None),
}
CHROMIUM = "/usr/bin/chromium"  # Debian's; never `playwright install`
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_WAIT_S = 15.0
# Alerts at once, so tests need not wait out production thresholds.
FAST = WebSettings(offline_alert_s=0.0, config_ack_grace_s=0.0, stale_after_s=5.0)


@dataclass
class WebHub:
    seeded: Seeded
    app: FastAPI
    other_member: int  # a member of shop-2
    other_card: str


def add_users(seeded: Seeded) -> tuple[int, str]:
    """Users for every role and a second branch with a member and a kiosk."""
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        admin.add_branch(conn, "shop-2", "Shop two", "chain", "test")
        member = admin.add_member(
            conn, admin.NewMember("Bo Chen", "13900000009", branch_id="shop-2"), rules, "", "test"
        )
        card = admin.issue_card(conn, member, rules, "test")
        for name, (role, branch) in USERS.items():
            auth.add_user(conn, name, PASSWORD, role, branch, "test")
        admin.add_device(
            conn,
            "kiosk-2",
            "shop-2",
            "kiosk",
            verify_key_text(new_signing_key().verify_key),
            "test",
        )
    return member, card


def make_web_hub(config: HubConfig, cfg: WebSettings = FAST) -> WebHub:
    seeded = seed_hub(config)
    member, card = add_users(seeded)
    return WebHub(seeded, create_app(seeded.hub, cfg), member, card)


BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def web_hub_on(request: pytest.FixtureRequest, tmp_path: Path) -> WebHub:
    """The dashboard's hub on the database a fixture parametrised by BOTH_DATABASES names."""
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    return make_web_hub(HubConfig(tmp_path / "hub", url, None))


@pytest.fixture
def web_hub(tmp_path: Path) -> Iterator[WebHub]:
    config = HubConfig(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.sqlite3'}", None)
    instance = make_web_hub(config)
    yield instance
    instance.seeded.hub.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def log_in(client: TestClient | httpx.Client, username: str, password: str = PASSWORD) -> str:
    """Logs in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )
    assert response.status_code == 200 and "/fleet" in str(response.url), response.text[:300]
    return csrf_of(response.text)


@pytest.fixture
def client_for(web_hub: WebHub) -> Iterator[Callable[[str], tuple[TestClient, str]]]:
    """A logged-in client for a user: (client, csrf). HTTPS so Secure cookies flow."""
    clients: list[TestClient] = []

    def make(username: str) -> tuple[TestClient, str]:
        client = TestClient(web_hub.app, base_url="https://testserver")
        client.__enter__()
        clients.append(client)
        return client, log_in(client, username)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def live_server(web_hub: WebHub) -> Iterator[WebServer]:
    """Plain HTTP on loopback, so session cookies go without the Secure flag (what
    `tapcard hub serve --web-insecure` does); the flag itself is tested over HTTPS."""
    app = create_app(web_hub.seeded.hub, replace(FAST, cookie_secure=False))
    server = WebServer(app, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A page in a real headless Chromium (Playwright drives Debian's chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(BROWSER_WAIT_S * 1000)
        try:
            yield page
        finally:
            browser.close()
