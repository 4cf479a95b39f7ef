"""Rules per branch and per device: the one place a rule set's overrides are merged.

A rule set may carry overrides (`RuleSet.overrides`) for a branch or a device: earning
rate, campaigns and catalog items (added, replaced or switched off by code), member
prices and capability table rows. `effective_rules` merges the chain's rules with the
branch's override, then the device's (device over branch over chain); the hub decides
with the result and publishes it to the devices it concerns (docs/rules.md
"Overrides"). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from tapcard.domain.authority import capabilities_of
from tapcard.domain.engine import SALE_LINE_PRICE_CENTS_MAX
from tapcard.domain.products import Product
from tapcard.domain.rules import Capability, Override, OverrideScope, RuleSet, validate_rules

RULES_OVERRIDES_MAX = 1_000  # a branch or device each: more is a generated file gone wrong
# How specific the rules a device holds are: a device takes a document of the same
# version only from a more specific scope (tapcard/device/link.py).
SCOPE_RANK: Mapping[str, int] = {"": 0, OverrideScope.BRANCH: 1, OverrideScope.DEVICE: 2}


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


C = TypeVar("C", bound=_Coded)


def override_for(rules: RuleSet, scope: OverrideScope, target: str) -> Override | None:
    if not target:
        return None
    for override in rules.overrides:
        if override.scope is scope and override.id == target:
            return override
    return None


def effective_rules(rules: RuleSet, branch: str, device: str) -> RuleSet:
    """The rules a device of `branch` decides with: the chain's, then the branch's
    override, then the device's. Without an override that applies, the chain's rules;
    either way without the overrides themselves (a device never sees another's)."""
    if not rules.overrides and not rules.effective:
        return rules  # a chain without overrides: its rules as they are, no copy
    merged = replace(rules, overrides=(), effective="")
    applied = [
        o
        for o in (
            override_for(rules, OverrideScope.BRANCH, branch),
            override_for(rules, OverrideScope.DEVICE, device),
        )
        if o is not None
    ]
    for override in applied:
        merged = apply_override(merged, override)
    names = "+".join(f"{o.scope.value}:{o.id}" for o in applied)
    return replace(merged, effective=names) if names else merged


def scope_of(rules: RuleSet) -> str:
    """The most specific scope an effective rule set was merged for: '', branch, device."""
    names = rules.effective.split("@", 1)[0]
    if not names:
        return ""
    return names.split("+")[-1].split(":", 1)[0]


def apply_override(rules: RuleSet, override: Override) -> RuleSet:
    """One override over `rules` (which carry no overrides of their own)."""
    prices = {tier: dict(items) for tier, items in rules.price_lists.items()}
    for tier, items in override.price_lists.items():
        prices.setdefault(tier, {}).update(items)
    off = (*rules.products_off, *(x for x in override.products_off if x not in rules.products_off))
    return replace(
        rules,
        product_prices={**rules.product_prices, **override.product_prices},
        products_off=off,
        earn=override.earn if override.earn is not None else rules.earn,
        campaigns=_merged(rules.campaigns, override.campaigns, override.campaigns_off),
        catalog=_merged(rules.catalog, override.catalog, override.catalog_off),
        price_lists=prices,
        capabilities=_capabilities(rules, override.capabilities),
    )


def branch_products(catalog: Mapping[str, Product], rules: RuleSet) -> Mapping[str, Product]:
    """The product catalog as effective rules sell it: without the SKUs not sold here,
    at the retail prices given here (member prices no higher than the retail). The
    catalog itself when the rules change nothing, which is the chain's case."""
    if not rules.product_prices and not rules.products_off:
        return catalog
    off = set(rules.products_off)
    out: dict[str, Product] = {}
    for sku, product in catalog.items():
        if sku in off:
            continue
        price = rules.product_prices.get(sku)
        if price is None:
            out[sku] = product
            continue
        member = {tier: min(cents, price) for tier, cents in product.member_cents.items()}
        out[sku] = replace(product, retail_cents=price, member_cents=member)
    return out


def _merged(chain: Sequence[C], own: Sequence[C], off: Collection[str]) -> tuple[C, ...]:
    """The chain's entries without those switched off, each replaced by the override's
    entry of the same code, then the override's new ones, in order."""
    by_code = {entry.code: entry for entry in own}
    kept = [by_code.pop(e.code, e) for e in chain if e.code not in off]
    return (*kept, *(e for e in own if e.code in by_code))


def _capabilities(
    rules: RuleSet, own: tuple[Capability, ...]
) -> tuple[Capability, ...] | None:
    if not own:
        return rules.capabilities
    pairs = {(c.device, c.operation) for c in own}
    kept = [c for c in capabilities_of(rules) if (c.device, c.operation) not in pairs]
    return (*kept, *own)


def validate_overrides(
    rules: RuleSet,
    branches: Collection[str] | None = None,
    devices: Mapping[str, str] | None = None,
) -> list[str]:
    """Every reason the rule set's overrides cannot be loaded. `branches` (ids) and
    `devices` (id -> branch id), when given, are what the hub knows: an override for
    anything else is refused by name. Each override's effective rules must themselves
    be a sound rule set."""
    errors: list[str] = []
    if rules.effective or rules.product_prices or rules.products_off:
        errors.append("effective, product_prices and products_off are the hub's, not a file's")
    if len(rules.overrides) > RULES_OVERRIDES_MAX:
        errors.append(f"at most {RULES_OVERRIDES_MAX} overrides")
    seen: set[tuple[OverrideScope, str]] = set()
    for override in rules.overrides:
        what = f"override {override.scope.value} {override.id!r}"
        if (override.scope, override.id) in seen:
            errors.append(f"{what} is given twice")
        seen.add((override.scope, override.id))
        errors += [f"{what}: {e}" for e in _override_errors(rules, override, branches, devices)]
    return errors


def _override_errors(
    rules: RuleSet,
    override: Override,
    branches: Collection[str] | None,
    devices: Mapping[str, str] | None,
) -> list[str]:
    branch, device = override.id, ""
    if override.scope is OverrideScope.BRANCH and branches is not None and branch not in branches:
        return [f"the hub has no branch {branch!r}"]
    if override.scope is OverrideScope.DEVICE:
        device, branch = override.id, ""
        if devices is not None:
            if device not in devices:
                return [f"the hub has no device {device!r}"]
            branch = devices[device]
    # What it changes: the chain's rules, for a device those of its branch.
    under = effective_rules(rules, branch if device else "", "")
    errors = [
        f"campaigns_off names no campaign {code!r} it would run"
        for code in override.campaigns_off
        if code not in {c.code for c in under.campaigns}
    ]
    errors += [
        f"catalog_off names no catalog item {code!r} it would offer"
        for code in override.catalog_off
        if code not in {item.code for item in under.catalog}
    ]
    errors += [
        f"product_prices {sku}: within 0..{SALE_LINE_PRICE_CENTS_MAX} cents"
        for sku, cents in override.product_prices.items()
        if not 0 <= cents <= SALE_LINE_PRICE_CENTS_MAX
    ]
    chain_items = {item.code: item for item in rules.catalog}
    errors += [
        f"catalog {item.code}: stock is counted for the whole chain, give the chain's"
        for item in override.catalog
        if item.code in chain_items and item.stock != chain_items[item.code].stock
    ]
    return errors + validate_rules(effective_rules(rules, branch, device))
