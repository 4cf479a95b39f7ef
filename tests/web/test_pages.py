"""The dashboard against a real app and database: every page renders for an HQ admin,
member and card changes go through hub.admin with an audit row, alerts are computed
from the live state and acknowledged, reports chart and export, rules upload is
validated, errors are clear pages (never a traceback).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import admin, db
from hub.web import fleet
from hub.web.settings import WebSettings
from tapcard.samples import sample_rules_bytes
from tests.clock import pinned_now_ms
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]

PAGES = [
    "/fleet",
    "/alerts",
    "/members?q=Li",
    "/reports",
    "/reports?name=points",
    "/reports?name=stored_value",
    "/reports?name=cards",
    "/reports?name=new_members",
    "/reports?name=categories",
    "/reports?name=campaigns",
    "/reports?name=staff",
    "/rules",
    "/users",
    "/audit",
    "/devices/kiosk-1",
]


def _audit_actions(web_hub: WebHub) -> list[str]:
    with web_hub.seeded.hub.engine.connect() as conn:
        return list(conn.execute(sa.select(db.audit.c.action).order_by(db.audit.c.id)).scalars())


def test_every_page_renders_for_an_admin(web_hub: WebHub, client_for: Client) -> None:
    client, _ = client_for("hq")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "Traceback" not in response.text
    member = web_hub.seeded.members[0]
    assert "Li Wei" in client.get(f"/members/{member}").text


def test_member_ids_no_column_holds_are_refused_at_the_edge(client_for: Client) -> None:
    """schemathesis once found /api/members/2**63 answering 500 (SQLite overflow)."""
    client, _ = client_for("hq")
    for path in (f"/api/members/{2**63}", f"/api/members/{2**70}", "/api/members/0"):
        assert client.get(path).status_code == 422, path
    assert client.get(f"/members/{2**63}").status_code == 422
    assert client.get("/api/members/999999").status_code == 404


def test_member_card_lifecycle_through_the_dashboard(web_hub: WebHub, client_for: Client) -> None:
    client, csrf = client_for("mgr1")
    member, card = web_hub.seeded.members[0], web_hub.seeded.cards[0]
    page = client.post(f"/cards/{card}/renew", data={"csrf": csrf, "fee_paid_by": "cash"})
    assert "renewed until" in page.text
    page = client.post(f"/cards/{card}/lost", data={"csrf": csrf})
    assert f"card {card} reported lost" in page.text
    again = client.post(f"/cards/{card}/lost", data={"csrf": csrf})
    assert "already lost" in again.text  # the same rule as the CLI, shown, not a crash
    page = client.post(f"/cards/{card}/replace", data={"csrf": csrf, "fee_paid_by": "cash"})
    assert "replaced by" in page.text
    with web_hub.seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, member)
        deny_version, denied = admin.denylist_cards(conn)
    states = {c["id"]: c["state"] for c in view["cards"]}
    assert states[card] == "replaced" and list(states.values()).count("active") == 1
    assert card in denied and deny_version >= 1
    actions = _audit_actions(web_hub)
    assert {"card.renew", "card.lost", "card.replace"} <= set(actions)


def test_points_reversal_needs_a_reason_and_is_audited(web_hub: WebHub, client_for: Client) -> None:
    from hub.ledger import Incoming  # noqa: F401 (the ledger books the purchase below)
    from tests.hub.support import Device, purchase

    seeded = web_hub.seeded
    device = Device(seeded.device_id, seeded.device_key)
    [result] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], purchase(60_000))])
    assert result.accepted and result.points_earned > 0
    client, csrf = client_for("hq")
    tx_id = str(result.tx_id)
    refused = client.post(f"/transfers/{tx_id}/reverse", data={"csrf": csrf, "reason": ""})
    assert "needs a reason" in refused.text
    page = client.post(f"/transfers/{tx_id}/reverse", data={"csrf": csrf, "reason": "fraud ring"})
    assert "reversed by" in page.text
    with seeded.hub.engine.connect() as conn:
        points = admin.member_view(conn, seeded.members[0])["balances"]["points"]
    assert points == 0
    assert "ledger.reverse" in _audit_actions(web_hub)


def test_alerts_are_listed_counted_and_acknowledged(web_hub: WebHub, client_for: Client) -> None:
    hub = web_hub.seeded.hub
    with hub.transaction() as conn:
        conn.execute(
            db.devices.update()
            .where(db.devices.c.id == "kiosk-1")
            .values(
                online=False,
                last_seen_ms=pinned_now_ms() - 600_000,
                health='{"reader": "fault", "reader_detail": "no antenna", "outbox_depth": 900,'
                ' "disk_free_bytes": 1024}',
            )
        )
        conn.execute(
            db.exceptions.insert().values(
                kind="offline_overdraw",
                tx_id=None,
                device_id="kiosk-1",
                card_id="C1",
                member_id=1,
                asset="points",
                amount=50,
                detail="spent twice offline",
                created_ms=pinned_now_ms(),
            )
        )
    client, csrf = client_for("hq")
    web_hub.app.state.web.watcher.poll()
    body = client.get("/api/alerts").json()
    kinds = {a["kind"] for a in body["alerts"] if a["subject"] == "kiosk-1"}
    assert {"offline", "reader", "outbox", "disk", "exception"} <= kinds
    assert body["counts"]["open"] >= 5
    page = client.post("/alerts/ack", data={"csrf": csrf, "key": "offline:kiosk-1"})
    assert "已确认 offline:kiosk-1" in page.text  # the outcome in the page's language
    page = client.post("/alerts/ack", data={"csrf": csrf, "key": "exception:1"})
    after = client.get("/api/alerts").json()
    acked = {a["key"]: a["acked_by"] for a in after["alerts"]}
    assert acked["offline:kiosk-1"] == "hq"
    assert "exception:1" not in acked  # handled: the exception row is marked
    assert after["counts"]["open"] == body["counts"]["open"] - 2
    with hub.engine.connect() as conn:
        assert conn.execute(sa.select(db.exceptions.c.acked_by)).scalar() == "hq"
    assert _audit_actions(web_hub).count("alert.ack") == 2


def test_reports_chart_and_export_csv(web_hub: WebHub, client_for: Client) -> None:
    from tests.hub.support import Device, purchase, staff_on_duty

    seeded = web_hub.seeded
    device = Device(seeded.device_id, seeded.device_key)
    ana = staff_on_duty(seeded.hub, seeded.device_id, "ana")
    seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], purchase(12_345), staff=ana)])
    client, _ = client_for("hq")
    page = client.get("/reports?name=turnover")
    assert 'id="chart-data"' in page.text and "shop-1" in page.text
    csv_text = client.get("/reports.csv?name=turnover").text
    assert csv_text.splitlines()[0] == "branch,day,net_yuan,orders"
    branch, _day, net_yuan, orders = csv_text.splitlines()[1].split(",")
    assert branch == "shop-1" and 0 < float(net_yuan) <= 123.45 and orders == "1"
    staff = client.get("/api/reports/staff").json()
    assert [(row["actor"], row["sales"]) for row in staff] == [("ana", 1)]
    assert client.get("/api/reports/nope").status_code == 404
    assert client.get("/reports?name=turnover&start=yesterday").status_code == 400


def test_rules_upload_is_validated_and_rolled_out(web_hub: WebHub, client_for: Client) -> None:
    client, csrf = client_for("hq")
    bad = client.post(
        "/rules", data={"csrf": csrf}, files={"file": ("r.json", b"{nope", "application/json")}
    )
    assert "not valid" in bad.text
    import json

    doc = json.loads(sample_rules_bytes())
    doc["version"] = 2
    body = json.dumps(doc).encode()
    page = client.post(
        "/rules", data={"csrf": csrf}, files={"file": ("r.json", body, "application/json")}
    )
    assert "rule set 2" in page.text
    shown = client.get("/rules").text  # each window in words, in the page's language
    english = client.get("/rules", headers={"accept-language": "en"}).text
    for zh, en in (
        ("每年12月", "every December"),
        ("周末", "weekends"),
        ("每年3月", "every March"),
        ("会员生日月", "in the member"),
        ("入会30天内", "within 30 days of joining"),
        ("长期有效", "always"),
    ):
        assert zh in shown and en not in shown and en in english
    status = client.get("/api/rules").json()
    assert status["version"] == 2 and status["acknowledged"] == 0
    with web_hub.seeded.hub.transaction() as conn:  # a device that has run rules 1
        conn.execute(
            db.devices.update()
            .where(db.devices.c.id == "kiosk-1")
            .values(online=True, last_seen_ms=pinned_now_ms(), rules_version=1)
        )
    web_hub.app.state.web.watcher.poll()
    kinds = {a["kind"] for a in client.get("/api/alerts").json()["alerts"]}
    assert "rules" in kinds  # no device runs version 2 yet


def test_errors_are_pages_not_tracebacks(client_for: Client) -> None:
    client, _ = client_for("hq")
    for path, status in (("/members/99999", 404), ("/no/such/page", 404), ("/devices/ghost", 404)):
        response = client.get(path, headers={"accept": "text/html"})
        assert response.status_code == status
        assert "<h1>" in response.text and "Traceback" not in response.text


def test_metrics_in_prometheus_text(web_hub: WebHub, client_for: Client) -> None:
    client, _ = client_for("audit")
    text = client.get("/metrics").text
    for name in (
        "tapcard_transfers_total",
        "tapcard_results_total",
        "tapcard_rejections_total",
        "tapcard_devices",
        "tapcard_outbox_intents",
        "tapcard_outbox_oldest_age_seconds",
    ):
        assert f"# TYPE {name} " in text
    assert 'tapcard_devices{presence="never"} 2' in text


def test_presence_is_never_a_false_online() -> None:
    cfg = WebSettings(stale_after_s=30)
    now = 1_000_000_000
    assert fleet.presence(True, "active", now - 5_000, now, cfg) == "online"
    assert fleet.presence(True, "active", now - 31_000, now, cfg) == "stale"
    assert fleet.presence(False, "active", now - 1_000, now, cfg) == "offline"
    assert fleet.presence(False, "active", 0, now, cfg) == "never"
    assert fleet.presence(True, "revoked", now, now, cfg) == "revoked"
