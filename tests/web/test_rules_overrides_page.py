"""The /rules page shows the overrides by branch and device and the effective rules.

Scenario: HQ uploads version 2 with an override for shop-2 (a point per 50 fen, the
welcome campaign not run) and one for shop-2's kiosk-2 (a point per 25 fen). The page
lists both overrides in Chinese (the default) and English; asked for kiosk-2, it shows
the kiosk's effective rules with their stamp, for shop-1 the chain's own. A manager of
shop-1 sees shop-1's effective rules and no override of shop-2; a device of another
branch, or a branch the hub lacks, is refused in words, not with a trace.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable

from fastapi.testclient import TestClient

from tapcard.samples import sample_rules_bytes
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]
EN = {"accept-language": "en"}


def _upload(client: TestClient, csrf: str) -> None:
    doc = json.loads(sample_rules_bytes())
    welcome = doc["campaigns"][0]["code"]
    doc["version"] = 2
    doc["overrides"] = [
        {
            "scope": "branch",
            "id": "shop-2",
            "earn": {"cents_per_point": 50},
            "campaigns_off": [welcome],
            "products_off": ["CG-1"],
        },
        {"scope": "device", "id": "kiosk-2", "earn": {"cents_per_point": 25}},
    ]
    files = {"file": ("r.json", json.dumps(doc).encode(), "application/json")}
    page = client.post("/rules", data={"csrf": csrf}, files=files)
    assert "rule set 2" in page.text, page.text[-500:]


def test_the_rules_page_shows_overrides_and_effective_rules(
    web_hub: WebHub, client_for: Client
) -> None:
    client, csrf = client_for("hq")
    _upload(client, csrf)
    zh = client.get("/rules").text
    en = client.get("/rules", headers=EN).text
    assert "按门店和终端的规则覆盖" in zh and "Overrides by branch and device" not in zh
    assert "每 ¥0.50 积 1 分" in zh and "每 ¥0.25 积 1 分" in zh
    assert "1 point per ¥0.50" in en and "不执行的活动" in zh and "Campaigns not run" in en
    assert "不销售的商品：CG-1" in zh and "Products not sold: CG-1" in en  # noqa: RUF001
    kiosk = client.get("/rules?device=kiosk-2").text
    assert "适用其覆盖规则" in kiosk and 'id="stamp">branch:shop-2+device:kiosk-2@' in kiosk
    kiosk_en = client.get("/rules?device=kiosk-2", headers=EN).text
    assert "its override applies" in kiosk_en and "1 point per ¥0.25" in kiosk_en
    chain = html.unescape(client.get("/rules?branch=shop-1", headers=EN).text)
    assert "the chain's own rules" in chain and 'id="stamp"' not in chain
    wrong = client.get("/rules?branch=shop-1&device=kiosk-2").text
    assert "终端 kiosk-2 属于门店 shop-2，不属于 shop-1。" in wrong  # noqa: RUF001
    missing = client.get("/rules?branch=shop-9", headers=EN)
    assert missing.status_code == 200 and "The hub has no branch shop-9." in missing.text


def test_a_branch_manager_sees_only_their_branchs_rules(
    web_hub: WebHub, client_for: Client
) -> None:
    hq, csrf = client_for("hq")
    _upload(hq, csrf)
    manager, _ = client_for("mgr1")
    page = html.unescape(manager.get("/rules", headers=EN).text)
    assert "the chain's own rules" in page  # shop-1's: no override
    assert "Overrides by branch and device" not in page and "shop-2" not in page
    other = manager.get("/rules?device=kiosk-2", headers=EN).text
    assert "The hub has no device kiosk-2 at this branch." in other
    assert "its override applies" not in other
