"""The /rules page's overrides: what each branch's or device's override changes, and
the effective rules of one branch or device (hub/rulestore.py `stamped`), as the
hub decides with them and the devices receive them (docs/rules.md "Overrides")."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.rulestore import stamped
from hub.web import auth
from tapcard.domain.rules import OverrideScope, RuleSet


def override_rows(rules: RuleSet, user: auth.User, devices: set[str]) -> list[dict[str, Any]]:
    """One row per override the user may see (a branch manager: their branch's and its
    `devices`'), with what it changes, in words the page translates."""
    rows = []
    for o in rules.overrides:
        mine = o.id in devices if o.scope is OverrideScope.DEVICE else o.id == user.branch_scope
        if user.branch_scope is not None and not mine:
            continue
        rows.append(
            {
                "device": o.scope is OverrideScope.DEVICE,
                "id": o.id,
                "cents_per_point": o.earn.cents_per_point if o.earn else 0,
                "campaigns": ", ".join(c.code for c in o.campaigns),
                "campaigns_off": ", ".join(o.campaigns_off),
                "catalog": ", ".join(f"{i.code} ({i.points})" for i in o.catalog),
                "catalog_off": ", ".join(o.catalog_off),
                "prices": sum(len(items) for items in o.price_lists.values()),
                "capabilities": len(o.capabilities),
                "product_prices": ", ".join(f"{k} {v}" for k, v in o.product_prices.items()),
                "products_off": ", ".join(o.products_off),
            }
        )
    return rows


def effective_view(
    conn: Connection, rules: RuleSet, user: auth.User, branch: str, device: str
) -> dict[str, Any]:
    """The effective rules of `branch` and `device` (either may be ''), or why not as
    `error` (no_branch, no_device, other_branch) with the names, which the page words
    in its language; a branch manager sees only their own branch's."""
    if user.branch_scope is not None:
        branch = user.branch_scope
    if device:
        d = db.devices
        home = conn.execute(sa.select(d.c.branch_id).where(d.c.id == device)).scalar()
        if home is None or (user.branch_scope is not None and home != branch):
            return {"error": "no_device", "device": device, "branch": branch}
        if branch and branch != home:
            return {"error": "other_branch", "device": device, "branch": branch, "home": home}
        branch = str(home)
    known = conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch)).first()
    if known is None:
        return {"error": "no_branch", "branch": branch, "device": device}
    found = stamped(rules, branch, device)
    merged = found.rules
    return {
        "error": "",
        "branch": branch,
        "device": device,
        "stamp": found.stamp,
        "cents_per_point": merged.earn.cents_per_point,
        "campaigns": ", ".join(c.code for c in merged.campaigns),
        "catalog": ", ".join(f"{i.code} ({i.points})" for i in merged.catalog),
        "body": json.dumps(msgspec.to_builtins(merged), indent=2, ensure_ascii=False),
    }
