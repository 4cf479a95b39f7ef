"""Rules per branch and per device: `effective_rules` merges the chain's rules with a
branch's override and then a device's, and `validate_overrides` refuses an override
that names what the hub does not know or that makes the rules unsound.

Scenario: a chain earns one point per yuan; branch shop-2 earns one per 50 fen, runs
its own campaign and offers no mugs; its kiosk k-9 also takes a campaign away and may
top up more. Each device of the chain quotes with what applies to it, nothing more.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from tapcard.domain.authority import capabilities_of
from tapcard.domain.engine import SALE_LINE_PRICE_CENTS_MAX, MemberContext, SaleLine, quote_sale
from tapcard.domain.model import DeviceKind, TxKind
from tapcard.domain.overrides import (
    branch_products,
    effective_rules,
    scope_of,
    validate_overrides,
)
from tapcard.domain.products import Product
from tapcard.domain.rules import (
    Capability,
    EarnRule,
    Override,
    OverrideScope,
    RuleSet,
    validate_rules,
)

from .test_rules import camp, item, sound_rules

BRANCH, DEVICE = OverrideScope.BRANCH, OverrideScope.DEVICE
DAY = dt.date(2026, 3, 4)  # a plain Wednesday, outside December's multiplier


def chain_with_overrides() -> RuleSet:
    shop2 = Override(
        BRANCH,
        "shop-2",
        earn=EarnRule(cents_per_point=50),
        campaigns=(camp("SHOP2", percent_bp=300, stackable=True), camp("P5", percent_bp=900)),
        catalog_off=("MUG",),
        price_lists={"silver": {"SKU-B": 500}},
    )
    k9 = Override(
        DEVICE,
        "k-9",
        campaigns_off=("SHOP2",),
        capabilities=(Capability(DeviceKind.KIOSK, TxKind.TOPUP, amount_cents_max=90_000),),
    )
    return replace(sound_rules(), overrides=(shop2, k9))


def points(rules: RuleSet, cents: int) -> int:
    """Points of a sale with the earning rate alone (no campaign takes its part off)."""
    ctx = MemberContext(tier="regular", joined_on=dt.date(2020, 1, 1))
    return quote_sale(replace(rules, campaigns=()), ctx, [SaleLine("grocery", cents)], DAY).points


def test_no_override_gives_the_chain_rules_without_the_overrides() -> None:
    rules = chain_with_overrides()
    chain = effective_rules(rules, "shop-1", "k-1")
    assert chain.overrides == ()
    assert chain.effective == ""
    assert scope_of(chain) == ""
    assert chain.earn == rules.earn
    assert points(chain, 10_000) == 100


def test_branch_override_replaces_earning_campaigns_catalog_and_prices() -> None:
    shop2 = effective_rules(chain_with_overrides(), "shop-2", "k-1")
    assert shop2.effective == "branch:shop-2"
    assert scope_of(shop2) == "branch"
    assert shop2.earn.cents_per_point == 50
    assert points(shop2, 10_000) == 200
    codes = [c.code for c in shop2.campaigns]
    assert codes == ["S200", "P5", "NEW", "GIFT", "SHOP2"]  # P5 replaced in place
    assert next(c for c in shop2.campaigns if c.code == "P5").percent_bp == 900
    assert shop2.catalog_item("MUG") is None
    assert shop2.catalog_item("WASH") is not None
    assert shop2.price_lists["silver"] == {"SKU-A": 800, "SKU-B": 500}
    assert shop2.price_lists["gold"] == {"SKU-A": 700}
    assert validate_rules(shop2) == []


def test_device_override_goes_over_its_branch() -> None:
    k9 = effective_rules(chain_with_overrides(), "shop-2", "k-9")
    assert k9.effective == "branch:shop-2+device:k-9"
    assert scope_of(k9) == "device"
    assert k9.earn.cents_per_point == 50  # the branch's, the device does not change it
    assert "SHOP2" not in [c.code for c in k9.campaigns]
    kiosk_topup = (DeviceKind.KIOSK, TxKind.TOPUP)
    topups = [c for c in capabilities_of(k9) if (c.device, c.operation) == kiosk_topup]
    assert topups == [Capability(DeviceKind.KIOSK, TxKind.TOPUP, amount_cents_max=90_000)]
    chain = effective_rules(chain_with_overrides(), "", "")
    rest = [c for c in capabilities_of(k9) if c.operation is not TxKind.TOPUP]
    assert rest == [c for c in capabilities_of(chain) if c.operation is not TxKind.TOPUP]


def test_device_override_in_another_branch_only_applies_to_that_device() -> None:
    rules = chain_with_overrides()
    assert effective_rules(rules, "shop-1", "k-9").effective == "device:k-9"
    assert effective_rules(rules, "shop-1", "k-8").effective == ""


def test_sound_overrides_for_known_branch_and_device_pass() -> None:
    rules = chain_with_overrides()
    assert validate_overrides(rules, {"shop-1", "shop-2"}, {"k-9": "shop-2"}) == []


def test_unknown_branch_and_device_are_refused_by_name() -> None:
    errors = validate_overrides(chain_with_overrides(), {"shop-1"}, {"k-1": "shop-1"})
    assert errors == [
        "override branch 'shop-2': the hub has no branch 'shop-2'",
        "override device 'k-9': the hub has no device 'k-9'",
    ]


def test_an_override_that_makes_the_rules_unsound_is_refused() -> None:
    bad = Override(
        BRANCH,
        "shop-3",
        earn=EarnRule(cents_per_point=0),
        campaigns=(camp("S200", percent_bp=20_000),),
        campaigns_off=("NOPE",),
        catalog=(item("MUG", stock=99),),
    )
    rules = replace(sound_rules(), overrides=(bad, bad))
    errors = validate_overrides(rules)
    assert "override branch 'shop-3' is given twice" in errors
    text = "; ".join(errors)
    assert "override branch 'shop-3': earn.cents_per_point must be >= 1" in text
    assert "override branch 'shop-3': campaign S200: percent_bp must be within 0..10000" in text
    assert "campaigns_off names no campaign 'NOPE' it would run" in text
    assert "catalog MUG: stock is counted for the whole chain" in text


def test_a_file_may_not_claim_to_be_effective_rules() -> None:
    rules = replace(sound_rules(), effective="branch:shop-1@0123")
    expected = ["effective, product_prices and products_off are the hub's, not a file's"]
    assert validate_overrides(rules) == expected
    assert validate_overrides(replace(sound_rules(), products_off=("SH-1",))) == expected


def test_a_branch_sells_products_at_its_own_prices_or_not_at_all() -> None:
    shampoo = Product("SH-1", "洗发水", "Shampoo", "care", 3_000, member_cents={"gold": 2_700})
    tea = Product("TEA-1", "绿茶", "Tea", "grocery", 500)
    cigs = Product("CG-1", "香烟", "Cigarettes", "tobacco", 2_000)
    catalog = {p.sku: p for p in (shampoo, tea, cigs)}
    shop2 = Override(BRANCH, "shop-2", product_prices={"SH-1": 2_500}, products_off=("CG-1",))
    k9 = Override(DEVICE, "k-9", product_prices={"TEA-1": 450})
    rules = replace(sound_rules(), overrides=(shop2, k9))
    assert branch_products(catalog, effective_rules(rules, "shop-1", "k-1")) is catalog
    at_shop2 = branch_products(catalog, effective_rules(rules, "shop-2", "k-1"))
    assert sorted(at_shop2) == ["SH-1", "TEA-1"]
    assert at_shop2["SH-1"].retail_cents == 2_500
    assert at_shop2["SH-1"].member_cents == {"gold": 2_500}  # never above the retail
    at_k9 = branch_products(catalog, effective_rules(rules, "shop-2", "k-9"))
    assert (at_k9["TEA-1"].retail_cents, at_k9["SH-1"].retail_cents) == (450, 2_500)
    assert "CG-1" not in at_k9
    bad = replace(sound_rules(), overrides=(Override(BRANCH, "b", product_prices={"X": -1}),))
    assert validate_overrides(bad) == [
        f"override branch 'b': product_prices X: within 0..{SALE_LINE_PRICE_CENTS_MAX} cents"
    ]
