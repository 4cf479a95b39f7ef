"""Vouchers with an expiry and a place, on SQLite and PostgreSQL, by the hub's own clock.

Scenario: rule set 2 gives a parking voucher valid one day, at shop-1's counters only,
whose points come back if it expires unused; a mug voucher (a stocked prize) valid one
day anywhere with points back; a wash voucher that counts only at shop-2; a kiosk
voucher that counts only at kiosks. Li redeems them at shop-1's terminal. One
millisecond before the day is over the parking voucher is accepted at the counter; a
second one, at the instant of its expiry, is refused as expired and stays unused. The
wash and kiosk vouchers are refused at the counter with their reasons, through the
staff channel as the terminal meets them. The daily job then gives the points of the
unused expired vouchers back, once, restores the mug's stock, and a second run (and
the CLI's) finds nothing; the ledger still verifies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from nacl.signing import SigningKey

from hub import admin, db
from hub.admin.vouchers import VoucherRefused, expire_vouchers, use_voucher
from hub.app import Hub
from hub.config import HubConfig
from hub.maintenance import run_maintenance
from hub.rulestore import parse_rules, store_rules
from hub.staff import handle
from hub.verify import verify_ledger
from tapcard.clock import ManualClock
from tapcard.domain.model import Asset, DeviceKind, TxKind
from tapcard.domain.rules import CatalogItem, CatalogKind, RuleSet
from tapcard.domain.vouchers import DAY_MS, Place, VoucherRefusal
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.clock import pinned_now_ms
from tests.conftest import credit
from tests.hub.support import Device, staff_on_duty

COUNTER = Place(branch="shop-1", device_kind="terminal")
ITEMS = (
    CatalogItem(
        "PARK-1D",
        CatalogKind.PARKING,
        "Parking",
        100,
        units_max=4,
        valid_days=1,
        branches=("shop-1",),
        device_kinds=(DeviceKind.TERMINAL,),
        points_back_on_expiry=True,
    ),
    CatalogItem(
        "MUG-1D", CatalogKind.PRIZE, "Mug", 300, stock=5, valid_days=1, points_back_on_expiry=True
    ),
    CatalogItem("WASH-S2", CatalogKind.CAR_WASH, "Wash", 200, branches=("shop-2",)),
    CatalogItem("KIOSK-ONLY", CatalogKind.PRIZE, "Pen", 50, device_kinds=(DeviceKind.KIOSK,)),
)


@dataclass
class Shop:
    hub: Hub
    clock: ManualClock
    device: Device
    key: SigningKey
    member: int
    card: str


def voucher_rules() -> RuleSet:
    sample = parse_rules(sample_rules_bytes())
    return dataclasses.replace(sample, version=2, catalog=sample.catalog + ITEMS)


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    clock = ManualClock(pinned_now_ms())
    hub = Hub.init(HubConfig(tmp_path / "hub", db_url, None), clock=clock)
    key = new_signing_key()
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "test")
        store_rules(conn, voucher_rules(), "test")
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-1", "Shop one", "chain", "test")
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "t")
        new = admin.NewMember(name="Li Wei", phone="13800000001", branch_id="shop-1")
        member = admin.add_member(conn, new, hub.rules.latest(), "", "test")
        card = admin.issue_card(conn, member, hub.rules.latest(), "test")
    credit(hub, member, Asset.POINTS, 5_000)
    yield Shop(hub, clock, Device("till-1", key, rules_version=2), key, member, card)
    hub.close()


def redeem(shop: Shop, item: str, units: int = 1) -> str:
    [result] = shop.hub.ledger.apply_batch(
        [shop.device.incoming(shop.card, m.Redeem(item=item, units=units))]
    )
    assert result.accepted, result.message
    return result.voucher


def points(shop: Shop) -> int:
    with shop.hub.engine.connect() as conn:
        return int(admin.member_view(conn, shop.member)["balances"]["points"])


def voucher_row(shop: Shop, code: str) -> sa.Row[tuple[object, ...]]:
    with shop.hub.engine.connect() as conn:
        return conn.execute(sa.select(db.vouchers).where(db.vouchers.c.code == code)).one()


def test_expiry_at_the_boundary_by_the_hub_clock(shop: Shop) -> None:
    issued_ms = shop.clock.now_ms()
    first, second = redeem(shop, "PARK-1D", 2), redeem(shop, "PARK-1D")
    row = voucher_row(shop, first)
    assert (row.expires_ms, row.branches, row.device_kinds, row.points_back) == (
        issued_ms + DAY_MS,
        "shop-1",
        "terminal",
        True,
    )
    shop.clock.advance(DAY_MS - 1)
    with shop.hub.transaction() as conn:
        assert use_voucher(conn, first, "test", COUNTER)["units"] == 2
    shop.clock.advance(1)
    with pytest.raises(VoucherRefused) as refused, shop.hub.transaction() as conn:
        use_voucher(conn, second, "test", COUNTER)
    assert refused.value.why is VoucherRefusal.EXPIRED and "expired at" in str(refused.value)
    with pytest.raises(VoucherRefused), shop.hub.transaction() as conn:
        use_voucher(conn, second, "hq", None)  # HQ cannot take an expired one either
    assert voucher_row(shop, second).used_ms is None


def test_wrong_branch_and_wrong_device_kind_through_the_staff_channel(shop: Shop) -> None:
    wash, pen = redeem(shop, "WASH-S2"), redeem(shop, "KIOSK-ONLY")
    badge = staff_on_duty(shop.hub, "till-1", "ann")

    def ask(code: str) -> sm.StaffReply:
        request = sm.StaffRequest(
            device="till-1", staff="ann", session=badge.session, op=sm.UseVoucher(code=code)
        )
        return handle(shop.hub, request, "shop-1")

    wrong_branch, wrong_kind = ask(wash), ask(pen)
    assert wrong_branch.error == "voucher_wrong_branch" and "shop-2" in wrong_branch.message
    assert wrong_kind.error == "voucher_wrong_device" and "kiosk" in wrong_kind.message
    assert voucher_row(shop, wash).used_ms is None and voucher_row(shop, pen).used_ms is None
    with shop.hub.transaction() as conn:  # HQ, on the member's behalf: no place applies
        assert use_voucher(conn, wash, "hq")["item"] == "WASH-S2"
    parking = redeem(shop, "PARK-1D")
    assert ask(parking).error == "" and ask(parking).error == "conflict"  # once


def test_unused_expired_vouchers_give_points_back_once(shop: Shop, tmp_path: Path) -> None:
    start = points(shop)
    parking, mug = redeem(shop, "PARK-1D", 3), redeem(shop, "MUG-1D")
    redeem(shop, "WASH-S2")  # never expires
    used = redeem(shop, "PARK-1D")
    with shop.hub.transaction() as conn:
        use_voucher(conn, used, "test", COUNTER)
        stock = conn.execute(sa.select(db.stock.c.remaining).where(db.stock.c.item == "MUG-1D"))
        assert stock.scalar_one() == 4
    assert points(shop) == start - 300 - 300 - 200 - 100
    shop.clock.advance(DAY_MS - 1)
    with shop.hub.transaction() as conn:
        assert expire_vouchers(conn, shop.hub.rules.latest()).expired == []  # not yet
    shop.clock.advance(1)
    with shop.hub.transaction() as conn:
        report = run_maintenance(conn, shop.hub.rules.latest(), db.today_at(conn))
    assert sorted(report.vouchers.expired) == sorted([parking, mug])  # wash never expires
    assert report.vouchers.points_back == {parking: 300, mug: 300}
    assert points(shop) == start - 200 - 100
    with shop.hub.transaction() as conn:
        again = expire_vouchers(conn, shop.hub.rules.latest())
        stock = conn.execute(sa.select(db.stock.c.remaining).where(db.stock.c.item == "MUG-1D"))
        assert stock.scalar_one() == 5  # the mug back on the shelf
        kinds = conn.execute(
            sa.select(db.transfers.c.tx_id).where(
                db.transfers.c.kind == TxKind.VOUCHER_EXPIRY.value
            )
        ).all()
        audit = conn.execute(sa.select(db.audit).where(db.audit.c.action == "voucher.expire"))
        assert len(audit.all()) == 1
        assert verify_ledger(conn).errors == []
    assert (again.expired, again.points_back, len(kinds)) == ([], {}, 2)
    assert points(shop) == start - 200 - 100
    assert voucher_row(shop, parking).expiry_tx_id is not None
    with pytest.raises(VoucherRefused), shop.hub.transaction() as conn:
        use_voucher(conn, parking, "hq")  # given back: never usable again


def test_a_fresh_signing_key_is_not_a_registered_device(shop: Shop) -> None:
    """The fixture's device is the terminal the registry knows (guards the scenario)."""
    with shop.hub.engine.connect() as conn:
        kind = conn.execute(sa.select(db.devices.c.kind).where(db.devices.c.id == "till-1"))
        assert kind.scalar_one() == "terminal"
    assert new_signing_key().verify_key != shop.key.verify_key
