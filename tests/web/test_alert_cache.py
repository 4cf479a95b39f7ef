"""Pages read the alerts the watcher computed, not their own per request (at 1,000
devices computing them cost more than the page): the same list until the fleet changes,
a threshold is saved or the watcher polls again; an acknowledgement shows at once."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db
from tests.clock import pinned_now_ms
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]


def _take_offline(web_hub: WebHub, device: str) -> None:
    with web_hub.seeded.hub.transaction() as conn:
        conn.execute(
            db.devices.update()
            .where(db.devices.c.id == device)
            .values(online=False, last_seen_ms=pinned_now_ms() - 600_000)
        )


def test_pages_reuse_the_watchers_alerts(web_hub: WebHub, client_for: Client) -> None:
    watcher = web_hub.app.state.web.watcher
    client, csrf = client_for("hq")
    watcher.shutdown()  # its thread refreshes them every few seconds: not in this test
    _take_offline(web_hub, "kiosk-1")
    watcher.poll()
    first = client.get("/api/alerts").json()
    assert "offline:kiosk-1" in {a["key"] for a in first["alerts"]}
    computed_at = watcher.state.alerts_at
    for url in ("/fleet", "/alerts", "/api/alerts"):
        assert client.get(url).status_code == 200
    assert watcher.state.alerts_at == computed_at  # no request computed them again

    client.post("/alerts/ack", data={"csrf": csrf, "key": "offline:kiosk-1"})
    acked = {a["key"]: a["acked_by"] for a in client.get("/api/alerts").json()["alerts"]}
    assert acked["offline:kiosk-1"] == "hq"  # at once, though computed before the ack


def test_a_fleet_change_or_a_poll_computes_them_afresh(web_hub: WebHub, client_for: Client) -> None:
    watcher = web_hub.app.state.web.watcher
    client, _ = client_for("hq")
    watcher.poll()
    assert "offline:kiosk-1" not in {a["key"] for a in client.get("/api/alerts").json()["alerts"]}
    _take_offline(web_hub, "kiosk-1")
    with web_hub.seeded.hub.engine.connect() as conn:
        online = conn.execute(
            sa.select(db.devices.c.online).where(db.devices.c.id == "kiosk-1")
        ).scalar_one()
    assert online is False
    watcher.poll()
    keys = {a["key"] for a in client.get("/api/alerts").json()["alerts"]}
    assert "offline:kiosk-1" in keys
