"""Login is throttled per account and per address, in the database.

Scenario: someone tries wrong passwords for `hq` from one address. After
LOGIN_TRIES_MAX of them the account is locked from that address: the right password is
refused there too, also by a second dashboard worker on the same database and after
the dashboard restarts (a new hub and app object). (From elsewhere it is not: see
test_login_abuse.py.) A name that does not exist locks the same way, with the same words, so the
page tells nothing about which accounts are real. Once the lockout time has passed
(the clock is set forward), the right password works. From one address, many names
each tried a few times lock the address (not another address). Every failure, lock
and refused try is audited. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub import db
from hub.app import Hub
from hub.config import HubConfig
from hub.web import throttle
from hub.web.app import create_app
from tapcard.clock import ManualClock
from tests.clock import pinned_now_ms
from tests.web.conftest import FAST, PASSWORD, csrf_of, make_web_hub

WRONG = "not the password"
LOCKED = "too many tries"
LOCKOUT_MS = throttle.LOGIN_LOCKOUT_S * 1000


class Dashboard:
    """The seeded database, and dashboards on it that share one settable clock."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.clock = ManualClock(pinned_now_ms())
        self.hubs: list[Hub] = []

    def app(self) -> FastAPI:
        """A fresh dashboard (a restart, or another worker): a new hub and app object."""
        hub = Hub.open(self.config, clock=self.clock)
        self.hubs.append(hub)
        return create_app(hub, FAST)

    def audit_actions(self) -> list[str]:
        with self.hubs[-1].engine.connect() as conn:
            return list(
                conn.execute(sa.select(db.audit.c.action).order_by(db.audit.c.id)).scalars()
            )


@pytest.fixture
def dash(db_url: str, tmp_path: Path) -> Iterator[Dashboard]:
    config = HubConfig(tmp_path / "hub", db_url, None)
    make_web_hub(config).seeded.hub.close()
    found = Dashboard(config)
    yield found
    for hub in found.hubs:
        hub.close()


def _client(app: FastAPI, address: str = "10.0.0.1") -> TestClient:
    return TestClient(app, base_url="https://testserver", client=(address, 50000))


def _try(client: TestClient, username: str, password: str) -> str:
    """One login through the form: "ok", or the page's error line."""
    form = {"username": username, "password": password, "csrf": csrf_of(client.get("/login").text)}
    page = client.post("/login", data=form)
    if str(page.url).endswith("/fleet"):
        return "ok"
    found = re.search(r'<p class="flash bad" role="alert">([^<]*)</p>', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _fail_until_locked(client: TestClient, username: str) -> str:
    for _ in range(throttle.LOGIN_TRIES_MAX):
        assert _try(client, username, WRONG) == throttle.WRONG_TEXT
    refused = _try(client, username, PASSWORD)
    assert LOCKED in refused and "请" in refused and "15 min" in refused
    return refused


def test_a_locked_account_stays_locked_across_workers_and_restarts(dash: Dashboard) -> None:
    first = dash.app()
    with _client(first) as client:
        locked_text = _fail_until_locked(client, "hq")
    with _client(dash.app()) as other_worker:  # another worker, the same address
        assert _try(other_worker, "hq", PASSWORD) == locked_text
    restarted = dash.app()  # as after a restart: nothing kept in memory
    with _client(restarted) as client:
        assert _try(client, "hq", PASSWORD) == locked_text
        dash.clock.advance(LOCKOUT_MS - 1000)
        assert LOCKED in _try(client, "hq", PASSWORD)
        dash.clock.advance(1000)
        assert _try(client, "hq", PASSWORD) == "ok"
    actions = dash.audit_actions()
    assert actions.count("user.login_failed") == throttle.LOGIN_TRIES_MAX
    assert actions.count("user.lockout") == 1
    assert actions.count("user.login_locked") == 4
    assert actions[-1] == "user.login"


def test_a_name_that_does_not_exist_locks_with_the_same_words(dash: Dashboard) -> None:
    with _client(dash.app()) as client:
        real = _fail_until_locked(client, "hq")
    with _client(dash.app(), "10.0.0.2") as client:
        ghost = _fail_until_locked(client, "nobody-here")
    assert real == ghost


def test_failures_spread_over_more_than_the_window_do_not_lock(dash: Dashboard) -> None:
    with _client(dash.app()) as client:
        for _ in range(2):
            for _ in range(throttle.LOGIN_TRIES_MAX - 1):
                assert _try(client, "mgr1", WRONG) == throttle.WRONG_TEXT
            dash.clock.advance(throttle.LOGIN_WINDOW_S * 1000)
        assert _try(client, "mgr1", PASSWORD) == "ok"


def test_a_good_login_clears_the_account_count(dash: Dashboard) -> None:
    with _client(dash.app()) as client:
        for _ in range(throttle.LOGIN_TRIES_MAX - 1):
            assert _try(client, "mgr1", WRONG) == throttle.WRONG_TEXT
        assert _try(client, "mgr1", PASSWORD) == "ok"
    with _client(dash.app()) as client:
        for _ in range(throttle.LOGIN_TRIES_MAX - 1):
            assert _try(client, "mgr1", WRONG) == throttle.WRONG_TEXT
        assert _try(client, "mgr1", PASSWORD) == "ok"


def test_many_names_from_one_address_lock_the_address(dash: Dashboard) -> None:
    app = dash.app()
    names = [f"guess-{i}" for i in range(throttle.LOGIN_ADDR_TRIES_MAX)]
    with _client(app, "10.9.9.9") as client:
        for name in names:  # one try each: no account reaches its own limit
            assert _try(client, name, WRONG) == throttle.WRONG_TEXT
        assert LOCKED in _try(client, "mgr2", PASSWORD)
    with _client(app, "10.0.0.2") as client:
        assert _try(client, "mgr2", PASSWORD) == "ok"
    with dash.hubs[-1].engine.connect() as conn:
        t = db.web_login_failures
        locked = conn.execute(sa.select(t.c.key).where(t.c.locked_until_ms > 0)).scalars()
        assert list(locked) == ["addr:10.9.9.9"]
