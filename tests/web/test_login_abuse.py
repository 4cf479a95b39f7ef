"""Guessing cannot lock the real user out, against a real uvicorn server.

Scenario: the admin `hq` has logged in before from her browser, which keeps the signed
known-login cookie. An attacker then guesses `hq`'s password from many addresses (the
server takes each from X-Forwarded-For, as behind the reverse proxy): from any one
address LOGIN_TRIES_MAX wrong passwords lock that address for `hq`, and once the
account has LOGIN_ACCOUNT_TRIES_MAX failures it is slowed for every unknown browser,
so even the right password from a fresh address is refused without a check. Yet `hq`'s
own browser logs in at once, from her usual address and from a new one. A cookie of
another account, a tampered one or one past KNOWN_LOGIN_S exempts nothing. The
slowdown ends LOGIN_SLOW_S_MAX after the last failure, and a known browser that
guesses wrong LOGIN_TRIES_MAX times locks its own cookie. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import sqlalchemy as sa

from hub import db
from hub.web import throttle
from hub.web.app import create_app
from hub.web.server import WebServer
from tests.web.conftest import FAST, PASSWORD, csrf_of
from tests.web.test_login_limits import LOCKED, WRONG, Dashboard, dash  # noqa: F401

OK = "ok"


@pytest.fixture
def server(dash: Dashboard) -> Iterator[WebServer]:  # noqa: F811
    dash.app()  # the hub the server's app runs on
    app = create_app(dash.hubs[-1], replace(FAST, cookie_secure=False))
    found = WebServer(app, "127.0.0.1", 0)
    found.start()
    yield found
    found.stop()


def browser(server: WebServer, known: str = "") -> httpx.Client:
    """A browser: its own cookie jar, the known-login cookie if given."""
    client = httpx.Client(base_url=server.url, follow_redirects=True, timeout=10.0)
    if known:
        client.cookies.set(throttle.KNOWN_COOKIE, known)
    return client


def attempt(client: httpx.Client, username: str, password: str, address: str) -> str:
    """One login through the form from `address`: "ok" or the page's error line."""
    headers = {"X-Forwarded-For": address}
    page = client.get("/login", headers=headers)
    form = {"username": username, "password": password, "csrf": csrf_of(page.text)}
    answer = client.post("/login", data=form, headers=headers)
    if answer.url.path == "/fleet":
        client.post("/logout", data={"csrf": csrf_of(answer.text)}, headers=headers)
        return OK
    found = re.search(r'<p class="flash bad" role="alert">([^<]*)</p>', answer.text)
    assert found, answer.text[:500]
    return found.group(1)


def _attack(server: WebServer, username: str) -> None:
    """Guesses from many addresses until the account is slowed."""
    attacker = browser(server)
    for _ in range(throttle.LOGIN_TRIES_MAX):
        assert attempt(attacker, username, WRONG, "198.51.100.1") == throttle.WRONG_TEXT
    assert LOCKED in attempt(attacker, username, PASSWORD, "198.51.100.1")
    more = throttle.LOGIN_ACCOUNT_TRIES_MAX - throttle.LOGIN_TRIES_MAX
    for index in range(more):
        address = f"198.51.100.{index + 2}"
        assert attempt(attacker, username, WRONG, address) == throttle.WRONG_TEXT
    assert LOCKED in attempt(browser(server), username, PASSWORD, "203.0.113.7")


def test_the_real_users_browser_gets_in_while_the_account_is_attacked(
    dash: Dashboard,  # noqa: F811
    server: WebServer,
) -> None:
    own = browser(server)
    assert attempt(own, "hq", PASSWORD, "10.0.0.1") == OK  # earlier, from her desk
    known = own.cookies.get(throttle.KNOWN_COOKIE)
    assert known and known.count(".") == 2
    _attack(server, "hq")
    assert attempt(own, "hq", PASSWORD, "10.0.0.1") == OK
    assert attempt(browser(server, known), "hq", PASSWORD, "192.0.2.50") == OK  # travelling
    mgr = browser(server)
    assert attempt(mgr, "mgr1", PASSWORD, "10.0.0.9") == OK
    other_account = mgr.cookies.get(throttle.KNOWN_COOKIE)
    assert other_account
    forged_id, issued, mac = known.split(".")
    tampered = f"{forged_id}x.{issued}.{mac}"
    for cookie in (other_account, tampered, "", "a.b.c"):
        assert LOCKED in attempt(browser(server, cookie), "hq", PASSWORD, "10.0.0.1"), cookie
    actions = dash.audit_actions()
    assert actions.count("user.slowed") >= 1 and "user.lockout" in actions
    assert actions.count("user.login") >= 4


def test_the_slowdown_ends_and_an_old_cookie_exempts_nothing(
    dash: Dashboard,  # noqa: F811
    server: WebServer,
) -> None:
    own = browser(server)
    assert attempt(own, "mgr2", PASSWORD, "10.0.0.1") == OK
    known = own.cookies.get(throttle.KNOWN_COOKIE)
    assert known
    _attack(server, "mgr2")
    dash.clock.advance(throttle.KNOWN_LOGIN_S * 1000)  # her cookie is too old now
    # The slowdown ended long ago: one try from a fresh browser is checked again.
    assert attempt(browser(server), "mgr2", PASSWORD, "203.0.113.8") == OK
    for index in range(throttle.LOGIN_ACCOUNT_TRIES_MAX):  # slowed again
        assert attempt(browser(server), "mgr2", WRONG, f"198.51.100.{index + 50}") != OK
    assert LOCKED in attempt(browser(server, known), "mgr2", PASSWORD, "10.0.0.1")
    dash.clock.advance(throttle.LOGIN_SLOW_S_MAX * 1000)
    assert attempt(browser(server, known), "mgr2", PASSWORD, "10.0.0.1") == OK


def test_a_known_browser_guessing_locks_its_own_cookie(
    dash: Dashboard,  # noqa: F811
    server: WebServer,
) -> None:
    own = browser(server)
    assert attempt(own, "audit", PASSWORD, "10.0.0.1") == OK
    known = own.cookies.get(throttle.KNOWN_COOKIE)
    assert known
    stolen = browser(server, known)
    for _ in range(throttle.LOGIN_TRIES_MAX):
        assert attempt(stolen, "audit", WRONG, "198.51.100.5") == throttle.WRONG_TEXT
    assert LOCKED in attempt(browser(server, known), "audit", PASSWORD, "10.0.0.1")
    assert attempt(browser(server), "audit", PASSWORD, "10.0.0.1") == OK  # no cookie: fine
    with dash.hubs[-1].engine.connect() as conn:
        t = db.web_login_failures
        locked = list(conn.execute(sa.select(t.c.key).where(t.c.locked_until_ms > 0)).scalars())
    assert len(locked) == 1 and locked[0].startswith("known:")
