"""The gates' HTTP endpoint through a real HTTP client against the real dashboard server.

Scenario: a third-party car park system at shop-1's exit holds gate-1's HTTP key. Li
redeemed parking (3 h) and a wash at the counter. With the key, the parking voucher
opens for 180 minutes; the same request again (the system lost the answer) gets the
same yes marked repeat; after the retry window it is refused as used, in Chinese by
default and in English when asked. The wash voucher is refused as not for this gate. A
wrong key is 401, and an address that keeps trying wrong keys is locked out (429) even
with the right one. A rotated key stops the old one; a revoked one stops all. A card
takes the member's oldest parking voucher; /check consumes nothing. The served OpenAPI
document is the committed one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from hub import gate_keys, gates, gates_http
from hub.web.app import create_app
from hub.web.server import WebServer
from hub.web.settings import WebSettings
from tests.hub.test_gates import Park, redeem
from tests.hub.test_gates import park as park  # noqa: PLC0414 (the fixture)

DOC = Path(__file__).resolve().parents[2] / "docs/protocol/gates-openapi.json"


@pytest.fixture
def server(park: Park) -> Iterator[WebServer]:
    app = create_app(park.hub, replace(WebSettings(), cookie_secure=False))
    web = WebServer(app, "127.0.0.1", 0)
    web.start()
    yield web
    web.stop()


def new_key(park: Park, device: str = "gate-1") -> str:
    with park.hub.transaction() as conn:
        return gate_keys.make_key(conn, device, "test")


def client(server: WebServer, key: str, lang: str = "") -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if lang:
        headers["Accept-Language"] = lang
    return httpx.Client(base_url=server.url + gates_http.PREFIX, headers=headers, timeout=10)


def test_a_parking_voucher_opens_once_and_a_replay_gets_the_same_yes(
    park: Park, server: WebServer
) -> None:
    parking, wash = redeem(park, "PARK-HOUR", 3), redeem(park, "WASH-STANDARD")
    with client(server, new_key(park)) as http:
        wrong = http.post("/consume", json={"code": wash}).json()
        assert (wrong["open"], wrong["reason"], wrong["message"]) == (
            False, "not_allowed", "此券不能在此使用"
        )  # fmt: skip
        opened = http.post("/consume", json={"code": parking})
        assert opened.status_code == 200
        yes = opened.json()
        assert (yes["open"], yes["open_minutes"], yes["units"], yes["repeat"]) == (
            True, 180, 3, False
        )  # fmt: skip
        park.clock.advance(30_000)
        replay = http.post("/consume", json={"code": parking}).json()
        assert (replay["open"], replay["open_minutes"], replay["repeat"]) == (True, 180, True)
        park.clock.advance(gates.RETRY_WINDOW_MS + 1)
        used = http.post("/consume", json={"code": parking}).json()
        assert (used["open"], used["reason"], used["message"]) == (
            False,
            "conflict",
            "此券已使用或已作废",
        )
    with client(server, new_key(park), "en-GB,en;q=0.8") as http:
        used_en = http.post("/consume", json={"code": parking}).json()
        assert used_en["message"] == "this voucher was already used or voided"
        assert used_en["lang"] == "en"
        unknown = http.post("/consume", json={"code": "nonsense!"}).json()
        assert (unknown["open"], unknown["reason"]) == (False, "invalid")


def test_wrong_rotated_and_revoked_keys_are_refused_and_guessing_locks(
    park: Park, server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    parking = redeem(park, "PARK-HOUR")
    monkeypatch.setattr(gates_http, "WRONG_KEYS_MAX", 5)  # the fifth wrong key locks
    old = new_key(park)
    current = new_key(park)  # rotated: the old one stops working
    with client(server, current) as http:
        assert http.post("/check", json={"code": parking}).json()["open"]
    for key in ("", "tgk_0000_nope", old, current[:-1] + "x"):
        with client(server, key) as http:
            refused = http.post("/consume", json={"code": parking})
            assert refused.status_code == 401 and refused.json()["detail"], key
    with park.hub.transaction() as conn:
        gate_keys.revoke_key(conn, "gate-1", "test")
    with client(server, current) as http:
        assert http.post("/consume", json={"code": parking}).status_code == 401
    with client(server, new_key(park)) as http:  # right, but from a locked address
        locked = http.post("/consume", json={"code": parking})
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    with park.hub.engine.connect() as conn:
        assert gate_keys.key_state(conn, "gate-1") is not None


def test_a_card_takes_the_oldest_parking_voucher_and_check_consumes_nothing(
    park: Park, server: WebServer
) -> None:
    redeem(park, "WASH-STANDARD")
    first = redeem(park, "PARK-HOUR", 2)
    park.clock.advance(1_000)  # the older of the two is taken first
    second = redeem(park, "PARK-HOUR", 1)
    with client(server, new_key(park)) as http:
        looked = http.post("/check", json={"card": park.card}).json()
        assert (looked["open"], looked["voucher"]) == (True, first)
        taken = http.post("/consume", json={"card": park.card}).json()
        assert (taken["voucher"], taken["open_minutes"], taken["repeat"]) == (first, 120, False)
        replay = http.post("/consume", json={"card": park.card}).json()
        assert (replay["voucher"], replay["repeat"]) == (first, True)  # not the second one
        park.clock.advance(gates.RETRY_WINDOW_MS + 1)
        assert http.post("/consume", json={"card": park.card}).json()["voucher"] == second
        park.clock.advance(gates.RETRY_WINDOW_MS + 1)
        none_left = http.post("/consume", json={"card": park.card}).json()
        assert (none_left["open"], none_left["reason"]) == (False, "no_voucher")
        stranger = http.post("/consume", json={"card": "C999999"}).json()
        assert stranger["reason"] == "card_unknown"


def test_bad_requests_are_clear_errors(park: Park, server: WebServer) -> None:
    parking = redeem(park, "PARK-HOUR")
    with client(server, new_key(park)) as http:
        both = http.post("/consume", json={"code": parking, "card": park.card})
        assert both.status_code == 422 and "not both" in both.json()["detail"]
        extra = http.post("/consume", json={"code": parking, "gate": "gate-9"})
        assert extra.status_code == 422
        huge = http.post("/consume", content=b"{" + b" " * 70_000 + b"}")
        assert huge.status_code == 413
        assert http.post("/check", json={"code": parking}).json()["open"]  # still unused
    with park.hub.transaction() as conn, pytest.raises(Exception, match="only gates and bays"):
        gate_keys.make_key(conn, "till-1", "test")


def test_the_served_openapi_document_is_the_committed_one(server: WebServer) -> None:
    served = httpx.get(f"{server.url}{gates_http.PREFIX}/openapi.json", timeout=10)
    assert served.status_code == 200
    committed = json.loads(DOC.read_text())
    assert served.json() == committed, "regenerate: python -m hub.gates_http > " + str(DOC.name)
    assert committed["openapi"].startswith("3.")
    assert set(committed["paths"]) == {"/consume", "/check"}
    assert committed["servers"] == [{"url": gates_http.PREFIX}]
