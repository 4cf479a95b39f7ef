"""A device keeps the hub's product catalog like its rules.

Scenario: HQ saves two products at a real hub; the hub publishes the signed catalog
retained on real mosquitto and a running device takes it, finds a product by barcode,
SKU and name in either language, and quotes a sale with the member's catalog price. The
retained copy is cleared (the device keeps its catalog), an older signed one and one
signed by another key arrive (both refused, the catalog held stays), and after a restart
with the broker down the device still has it from its own store and quotes with it, and
a stored-value sale costs the card (the offline policy's cost) the catalog's price.
"""

from __future__ import annotations

import datetime as dt

from nacl.signing import SigningKey

from hub import products
from tapcard.device import link, policy
from tapcard.device.runtime import DeviceRuntime
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.domain.products import Product
from tapcard.wire import messages as m
from tapcard.wire.envelope import HUB_SIGNER, seal
from tapcard.wire.topics import PRODUCTS_TOPIC
from tests.device.conftest import Rig, wait_until
from tests.device.test_retained_config import _publish_retained

TIERS = ("regular", "silver", "gold", "platinum")
SHAMPOO = Product(
    "SH-1",
    "洗发水",
    "Shampoo",
    "personal_care",
    3_000,
    "6901234567892",
    {tier: 2_400 for tier in TIERS},
)
TEA = Product("TEA-1", "绿茶", "Green tea", "grocery", 500, "6900000000017")


def _save(rig: Rig, *items: Product) -> int:
    hub = rig.seeded.hub
    with hub.transaction() as conn:
        return products.save(conn, list(items), "hq", "test", TIERS)


def quote_day(runtime: DeviceRuntime) -> dt.date:
    rules = runtime.rules
    assert rules is not None
    return policy.business_day(rules, runtime.clock.now_ms())


def test_the_device_takes_keeps_and_quotes_with_the_catalog(rig: Rig) -> None:
    runtime = rig.device()
    assert runtime.catalog.version == 0 and runtime.catalog.scanned("6901234567892") is None
    version = _save(rig, SHAMPOO, TEA)
    wait_until(lambda: runtime.catalog.version == version, what="catalog at the device")
    catalog = runtime.catalog
    assert catalog.scanned("6901234567892") == SHAMPOO
    assert catalog.scanned(" TEA-1 ") == TEA  # a shop label may carry the SKU
    assert [p.sku for p in catalog.search("洗发")] == ["SH-1"]
    assert [p.sku for p in catalog.search("green")] == ["TEA-1"]
    assert [p.sku for p in catalog.search("")] == ["SH-1", "TEA-1"]
    card = rig.seeded.cards[0]
    snapshot, online = runtime.snapshot(card)
    assert online and snapshot is not None
    # The device sent the wrong retail price: the quote is the catalog's, as at the hub.
    quote = runtime.quote_sale(snapshot, [SaleLine("other", 1, 2, "SH-1")])
    assert (quote.gross_cents, quote.member_price_saving_cents) == (6_000, 1_200)


def test_cleared_older_or_forged_catalogs_leave_the_one_held(rig: Rig) -> None:
    runtime = rig.device()
    hub = rig.seeded.hub
    _save(rig, SHAMPOO)
    version = _save(rig, TEA)
    wait_until(lambda: runtime.catalog.version == version, what="catalog at the device")
    _publish_retained(rig.broker.hub_address, PRODUCTS_TOPIC, b"")
    wait_until(lambda: runtime.link.counters.get("config_cleared", 0) == 1, what="cleared")
    assert runtime.catalog.version == version and link.ALARM_CONFIG_CLEARED in runtime.alarms()
    older = m.ProductCatalog(version=version - 1, published_ms=hub.clock.now_ms(), products=[])
    _publish_retained(
        rig.broker.hub_address,
        PRODUCTS_TOPIC,
        seal(hub.secrets.hub_key, HUB_SIGNER, PRODUCTS_TOPIC, older),
    )
    wait_until(lambda: runtime.link.counters.get("config_stale", 0) == 1, what="stale counted")
    forged = m.ProductCatalog(version=version + 5, published_ms=hub.clock.now_ms(), products=[])
    _publish_retained(
        rig.broker.hub_address,
        PRODUCTS_TOPIC,
        seal(SigningKey.generate(), HUB_SIGNER, PRODUCTS_TOPIC, forged),
    )
    wait_until(lambda: link.ALARM_BAD_MESSAGE in runtime.alarms(), what="forgery refused")
    assert runtime.catalog.version == version
    assert {p.sku for p in runtime.catalog.by_sku.values()} == {"SH-1", "TEA-1"}


def test_the_catalog_survives_a_restart_offline(rig: Rig) -> None:
    runtime = rig.device()
    version = _save(rig, SHAMPOO, TEA)
    wait_until(lambda: runtime.catalog.version == version, what="catalog at the device")
    card = rig.seeded.cards[0]
    snapshot, _ = runtime.snapshot(card)  # cached for the offline quote below
    rig.stop_device(runtime)
    rig.broker.stop()
    try:
        again = rig.device(online=False)
        assert again.catalog.version == version
        assert again.catalog.scanned("6900000000017") == TEA
        cached, online = again.snapshot(card)
        assert not online and cached is not None and snapshot is not None
        quote = again.quote_sale(cached, [SaleLine("grocery", 3_000, 1, "SH-1")])
        assert quote.member_price_saving_cents == 600  # from the device's own copy
        # Paid from stored value offline, the sale costs the card what the hub will take.
        op = m.Purchase(lines=[SaleLine("grocery", 3_000, 1, "SH-1")], payment=Payment.STORED_VALUE)
        rules = again.rules
        assert rules is not None
        cost = policy.op_cost(rules, cached, op, quote_day(again), again.catalog.by_sku)
        assert isinstance(cost, policy.Cost) and cost.cents == quote.net_cents
        plain = policy.op_cost(rules, cached, op, quote_day(again))
        assert isinstance(plain, policy.Cost) and plain.cents > cost.cents
    finally:
        rig.broker.start()
