"""A device receives its branch's effective rules, and its own, over real mosquitto.

Scenario: a kiosk of shop-1 runs the chain's rules (version 1). HQ loads version 2, in
which shop-1 earns a point per 50 fen: the hub publishes the chain's rules on the chain
topic and shop-1's, signed and retained, on the branch's topic; the kiosk takes the
branch's (same version, more specific), quotes twice the points and scans the shampoo at
shop-1's price, and no cigarettes, which shop-1 does not sell. Version 3 also gives
this kiosk its own override (a point per 25 fen): it takes the device's rules over the
branch's. Restarted with the broker down, it quotes offline with the device's rules it
stored.
"""

from __future__ import annotations

import dataclasses

from hub import products
from hub.rulestore import parse_rules, store_rules
from tapcard.device.runtime import DeviceRuntime
from tapcard.domain.engine import SaleLine
from tapcard.domain.products import Product
from tapcard.domain.rules import EarnRule, Override, OverrideScope
from tapcard.samples import sample_rules_bytes
from tests.device.conftest import Rig, wait_until

SHOP1 = Override(
    OverrideScope.BRANCH,
    "shop-1",
    earn=EarnRule(cents_per_point=50),
    product_prices={"SH-1": 2_500},
    products_off=("CG-1",),
)
SHAMPOO = Product("SH-1", "洗发水", "Shampoo", "personal_care", 3_000, "6901234567892")
CIGS = Product("CG-1", "香烟", "Cigarettes", "tobacco", 2_000, "6900000000024")
KIOSK2 = Override(OverrideScope.DEVICE, "kiosk-2", earn=EarnRule(cents_per_point=25))


def _load(rig: Rig, version: int, *overrides: Override) -> None:
    rules = dataclasses.replace(
        parse_rules(sample_rules_bytes()), version=version, overrides=overrides
    )
    with rig.seeded.hub.transaction() as conn:
        store_rules(conn, rules, "test")


def _points(runtime: DeviceRuntime, rig: Rig) -> int:
    snapshot, _ = runtime.snapshot(rig.seeded.cards[0])
    assert snapshot is not None
    return runtime.quote_sale(snapshot, [SaleLine("grocery", 10_000)]).points


def _effective(runtime: DeviceRuntime) -> str:
    rules = runtime.rules
    return rules.effective if rules is not None else "none"


def test_a_device_takes_its_branchs_then_its_own_rules_and_quotes_offline(rig: Rig) -> None:
    runtime = rig.device()
    with rig.seeded.hub.transaction() as conn:
        version = products.save(conn, [SHAMPOO, CIGS], "hq", "test", ("regular",))
    wait_until(lambda: runtime.catalog.version == version, what="catalog at the device")
    assert runtime.catalog.scanned("6901234567892") == SHAMPOO
    chain_points = _points(runtime, rig)
    assert chain_points > 0 and _effective(runtime) == ""
    _load(rig, 2, SHOP1)
    wait_until(lambda: _effective(runtime).startswith("branch:shop-1@"), what="branch rules")
    assert runtime.rules_version == 2
    assert _points(runtime, rig) == 2 * chain_points
    # The branch's price for the shampoo, and no cigarettes, as the hub will price them.
    scanned = runtime.catalog.scanned("6901234567892")
    assert scanned is not None and scanned.retail_cents == 2_500
    assert runtime.catalog.scanned("6900000000024") is None
    _load(rig, 3, SHOP1, KIOSK2)
    wait_until(
        lambda: _effective(runtime).startswith("branch:shop-1+device:kiosk-2@"),
        what="the device's own rules",
    )
    assert runtime.rules_version == 3
    assert _points(runtime, rig) == 4 * chain_points
    assert runtime.rules is not None and runtime.rules.overrides == ()  # none of the others'
    rig.stop_device(runtime)
    rig.broker.stop()
    try:
        again = rig.device(online=False)
        assert again.rules_version == 3
        assert _effective(again).startswith("branch:shop-1+device:kiosk-2@")
        cached, online = again.snapshot(rig.seeded.cards[0])
        assert not online and cached is not None
        assert again.quote_sale(cached, [SaleLine("grocery", 10_000)]).points == 4 * chain_points
    finally:
        rig.broker.start()
