"""Rules per branch at the hub, on SQLite and on PostgreSQL.

Scenario: HQ loads rule set 2: the chain's sample rules, but branch shop-2 earns a
point per 50 fen instead of per yuan. The same sale at shop-1's terminal and at shop-2's
earns the chain's points at shop-1 and twice as many at shop-2; shop-2's transfer is
stamped with the override and the digest of the merged rules, which an auditor rebuilds
from the stored version, and shop-1's with nothing (the chain's own rules). A rule set
whose override names a branch the hub does not know is refused by name, nothing stored.
"""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from hub import admin, db, products
from hub.rulestore import parse_rules, stamped, store_rules
from tapcard.device.intents import StaffBadge
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.domain.products import Product
from tapcard.domain.rules import EarnRule, Override, OverrideScope, RuleSet
from tapcard.errors import ValidationError
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.conftest import Seeded
from tests.hub.support import Device, purchase, staff_on_duty, to_incoming

SHOP2_EARN = EarnRule(cents_per_point=50)


def _rules_with_shop2(version: int = 2) -> RuleSet:
    sample = parse_rules(sample_rules_bytes())
    override = Override(OverrideScope.BRANCH, "shop-2", earn=SHOP2_EARN)
    return dataclasses.replace(sample, version=version, overrides=(override,))


def _till_at_shop2(seeded: Seeded) -> Device:
    key = new_signing_key()
    with seeded.hub.transaction() as conn:
        admin.add_branch(conn, "shop-2", "Shop two", "chain", "test")
        admin.add_device(conn, "till-2", "shop-2", "terminal", verify_key_text(key.verify_key), "t")
    return Device("till-2", key, rules_version=2)


def _points(seeded: Seeded, member_index: int) -> int:
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, seeded.members[member_index])
    return int(view["balances"]["points"])


def _stamps(seeded: Seeded) -> dict[str, str | None]:
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.transfers.c.device_id, db.transfers.c.rules_effective))
        return {str(d): e for d, e in rows if d is not None}


def test_a_branch_override_earns_that_branch_its_points(seeded: Seeded) -> None:
    till2 = _till_at_shop2(seeded)
    with seeded.hub.transaction() as conn:
        store_rules(conn, _rules_with_shop2(), "test")
    till1 = Device(seeded.device_id, seeded.device_key, rules_version=2)
    at_shop1 = till1.incoming(
        seeded.cards[0], purchase(10_000), staff=staff_on_duty(seeded.hub, "kiosk-1", "ann")
    )
    badge2 = staff_on_duty(seeded.hub, "till-2", "bob", branch="shop-2")
    at_shop2 = to_incoming(till2.sealed(seeded.cards[1], purchase(10_000), staff=badge2), "shop-2")
    chain, shop2 = seeded.hub.ledger.apply_batch([at_shop1, at_shop2])
    assert chain.accepted and shop2.accepted, (chain.message, shop2.message)
    assert chain.net_cents == shop2.net_cents
    assert chain.points_earned > 0
    assert shop2.points_earned == 2 * chain.points_earned
    stamps = _stamps(seeded)
    assert stamps["kiosk-1"] is None
    stored = seeded.hub.rules.get(2)
    assert stored is not None
    rebuilt = stamped(stored, "shop-2", "till-2")
    assert stamps["till-2"] == rebuilt.stamp
    assert rebuilt.stamp.startswith("branch:shop-2@")
    assert rebuilt.rules.earn == SHOP2_EARN
    # A refund at shop-2 takes back what shop-2's rules earned, not the chain's.
    earned = _points(seeded, 1)
    refund = m.Refund(ref=str(shop2.tx_id), lines=[m.RefundLine(line_no=0, quantity=1)], reason="r")
    [back] = seeded.hub.ledger.apply_batch(
        [to_incoming(till2.sealed(seeded.cards[1], refund, staff=badge2), "shop-2")]
    )
    assert back.accepted, back.message
    assert earned - _points(seeded, 1) == shop2.points_earned


def test_an_override_for_an_unknown_branch_is_refused_by_name(seeded: Seeded) -> None:
    refused = pytest.raises(ValidationError, match="the hub has no branch 'shop-2'")
    with refused, seeded.hub.transaction() as conn:
        store_rules(conn, _rules_with_shop2(), "test")
    assert seeded.hub.rules.latest_version() == 1


SHAMPOO = Product("SH-1", "洗发水", "Shampoo", "personal_care", 3_000)
CIGS = Product("CG-1", "香烟", "Cigarettes", "tobacco", 2_000)


def test_a_branch_sells_products_at_its_own_price_and_not_what_it_does_not_sell(
    seeded: Seeded,
) -> None:
    till2 = _till_at_shop2(seeded)
    with seeded.hub.transaction() as conn:
        products.save(conn, [SHAMPOO, CIGS], "hq", "test", ("regular", "silver", "gold"))
        shop2 = Override(
            OverrideScope.BRANCH, "shop-2", product_prices={"SH-1": 2_500}, products_off=("CG-1",)
        )
        sample = parse_rules(sample_rules_bytes())
        store_rules(conn, dataclasses.replace(sample, version=2, overrides=(shop2,)), "test")
    badge2 = staff_on_duty(seeded.hub, "till-2", "bob", branch="shop-2")
    till1 = Device(seeded.device_id, seeded.device_key, rules_version=2)
    badge1 = staff_on_duty(seeded.hub, "kiosk-1", "ann")

    def sell(device: Device, badge: StaffBadge, branch: str, line: SaleLine) -> m.TxResult:
        op = m.Purchase(lines=[line], payment=Payment.CASH)
        sealed = device.sealed(seeded.cards[0], op, staff=badge)
        [result] = seeded.hub.ledger.apply_batch([to_incoming(sealed, branch)])
        return result

    here = sell(till2, badge2, "shop-2", SaleLine("x", 2_500, 1, "SH-1"))
    chain = sell(till1, badge1, "shop-1", SaleLine("x", 3_000, 1, "SH-1"))
    assert here.accepted and chain.accepted, (here.message, chain.message)
    with seeded.hub.engine.connect() as conn:
        gross = conn.execute(
            sa.select(db.sale_lines.c.branch_id, db.sale_lines.c.gross_cents)
        ).all()
        exceptions = conn.execute(sa.select(sa.func.count()).select_from(db.exceptions)).scalar()
    assert sorted((str(b), int(g)) for b, g in gross) == [("shop-1", 3_000), ("shop-2", 2_500)]
    assert exceptions == 0  # each device sent its branch's price: no difference for HQ
    refused = sell(till2, badge2, "shop-2", SaleLine("x", 2_000, 1, "CG-1"))
    assert refused.reason is Reason.UNKNOWN_ITEM, refused.message
    assert sell(till1, badge1, "shop-1", SaleLine("x", 2_000, 1, "CG-1")).accepted
