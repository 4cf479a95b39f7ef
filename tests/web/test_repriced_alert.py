"""A sale the hub repriced by its product catalog shows on the alerts page in its own
words, in yuan, in Chinese and in English; an offline overdraw keeps its own.

Scenario: a till with an older catalog sold a shampoo ¥3.00 under the hub's price, and
another sale overdrew a card offline. HQ opens the alerts page in both languages.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from hub import db
from tests.clock import pinned_now_ms
from tests.web.conftest import WebHub

Client = Callable[[str], tuple[TestClient, str]]


def _exception(web_hub: WebHub, kind: str, amount: int, detail: str) -> None:
    with web_hub.seeded.hub.transaction() as conn:
        conn.execute(
            db.exceptions.insert().values(
                kind=kind,
                device_id="kiosk-1",
                card_id="C100001",
                member_id=1,
                asset="cents",
                amount=amount,
                detail=detail,
                created_ms=pinned_now_ms(),
            )
        )


def test_a_repriced_sale_has_its_own_words_in_both_languages(
    web_hub: WebHub, client_for: Client
) -> None:
    _exception(web_hub, "catalog_price", 300, "line 0 (SH-1): device 2700, catalog 3000")
    _exception(web_hub, "offline_overdraw", 700, "spent beyond the balance offline")
    client, _ = client_for("hq")
    web_hub.app.state.web.watcher.poll()
    client.cookies.set("tapcard_lang", "zh")
    zh = client.get("/alerts").text
    assert "已按总部商品目录重新定价（设备的目录较旧）：¥3.00，卡 C100001" in zh  # noqa: RUF001
    assert "spent beyond the balance offline" in zh  # recorded as ever
    assert "catalog_price" not in zh
    client.cookies.set("tapcard_lang", "en")
    en = client.get("/alerts").text
    assert "Repriced by the hub&#39;s product catalog (the device&#39;s was older): ¥3.00" in en
