"""The hub prices sale lines from its product catalog, on SQLite and on PostgreSQL.

Scenario: HQ adds a shampoo (retail ¥30, regular members ¥27) and a pack of cigarettes
that earns no points. A terminal sends the shampoo at ¥1 (a stale or tampered price):
the hub books ¥27 for the regular member, with the catalog's category, and records the
difference as an exception for HQ. Cigarettes earn nothing. A cashier's line with an
unknown SKU, or a free amount, is refused and books nothing; a manager may sell it. A
hub without a catalog prices lines as sent, as before. A refund of a catalog sale gives
back what the member paid. CSV import is all or nothing, with each bad row named.
"""

from __future__ import annotations

import msgspec
import pytest
import sqlalchemy as sa

from hub import db, products
from hub.duties import ConfigFeed
from hub.staff import add_staff
from hub.staff_sessions import open_session
from tapcard.device.intents import StaffBadge
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment, StaffRole
from tapcard.domain.products import Product
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.topics import PRODUCTS_TOPIC
from tests.conftest import Seeded
from tests.hub.support import Device, staff_on_duty

TIERS = ("regular", "silver", "gold", "platinum")
SHAMPOO = Product(
    "SH-1", "洗发水", "Shampoo", "personal_care", 3_000, "6901234567892", {"regular": 2_700}
)
_TILLS: dict[int, Device] = {}  # one outbox's sequence numbers per test's hub
CIGS = Product("CG-1", "香烟", "Cigarettes", "tobacco", 2_000, points_excluded=True)


def _catalog(seeded: Seeded) -> int:
    with seeded.hub.transaction() as conn:
        return products.save(conn, [SHAMPOO, CIGS], "hq", "test", TIERS)


def _sell(seeded: Seeded, badge: StaffBadge, *lines: SaleLine) -> m.TxResult:
    device = _TILLS.setdefault(id(seeded), Device(seeded.device_id, seeded.device_key))
    op = m.Purchase(lines=list(lines), payment=Payment.CASH)
    [result] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], op, staff=badge)])
    return result


def _manager(seeded: Seeded) -> StaffBadge:
    with seeded.hub.transaction() as conn:
        add_staff(conn, "max", "Max", "shop-1", StaffRole.MANAGER, "1234", "test")
        token, _ = open_session(
            conn, "max", seeded.device_id, StaffRole.MANAGER, seeded.hub.clock.now_ms()
        )
    return StaffBadge("max", token)


def _exceptions(seeded: Seeded) -> list[tuple[str, int]]:
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.exceptions.c.kind, db.exceptions.c.amount))
        return [(k, int(a)) for k, a in rows]


def test_the_hub_prices_a_known_sku_for_the_members_tier(seeded: Seeded) -> None:
    assert _catalog(seeded) == 1
    cashier = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    result = _sell(seeded, cashier, SaleLine("whatever", 100, 2, "SH-1"))
    assert result.accepted, result.message
    # 2 x the regular member price (not 2 x ¥1), less the sample rules' welcome 10 %
    assert result.net_cents == 5_400 - 540
    assert result.points_earned == 48
    assert _exceptions(seeded) == [("catalog_price", 5_800)]  # (3000 - 100) x 2
    with seeded.hub.engine.connect() as conn:
        [(category, price)] = conn.execute(
            sa.select(db.sale_lines.c.category, db.sale_lines.c.gross_cents)
        ).all()
        detail = conn.execute(sa.select(db.transfers.c.detail)).scalars().all()[-1]
    assert (category, price) == ("personal_care", 6_000)
    assert msgspec.json.decode(detail)["catalog_version"] == 1


def test_an_excluded_product_earns_no_points(seeded: Seeded) -> None:
    _catalog(seeded)
    cashier = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    result = _sell(seeded, cashier, SaleLine("tobacco", 2_000, 1, "CG-1"))
    assert (result.accepted, result.net_cents, result.points_earned) == (True, 2_000, 0)
    assert _exceptions(seeded) == []


@pytest.mark.parametrize("line", [SaleLine("grocery", 500, 1, "NOPE"), SaleLine("grocery", 500)])
def test_only_a_manager_sells_what_the_catalog_lacks(seeded: Seeded, line: SaleLine) -> None:
    _catalog(seeded)
    cashier = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    refused = _sell(seeded, cashier, SaleLine("x", 3_000, 1, "SH-1"), line)
    assert refused.reason is Reason.UNKNOWN_ITEM
    assert "only a manager" in refused.message
    with seeded.hub.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.sale_lines)).scalar() == 0
    sold = _sell(seeded, _manager(seeded), SaleLine("x", 3_000, 1, "SH-1"), line)
    assert sold.accepted, (sold.reason, sold.message)
    assert sold.net_cents == (2_700 + 500) * 9 // 10


def test_a_hub_without_a_catalog_prices_lines_as_sent(seeded: Seeded) -> None:
    cashier = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    result = _sell(seeded, cashier, SaleLine("grocery", 100, 2, "SH-1"))
    assert (result.accepted, result.net_cents) == (True, 200 - 20)  # the welcome 10 %


def test_a_refund_of_a_catalog_sale_gives_back_what_was_paid(seeded: Seeded) -> None:
    _catalog(seeded)
    cashier = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    sale = _sell(seeded, cashier, SaleLine("x", 3_000, 2, "SH-1"))
    with seeded.hub.transaction() as conn:
        products.remove(conn, "SH-1", "hq")  # the catalog changed since: the sale did not
    device = _TILLS[id(seeded)]
    op = m.Refund(ref=str(sale.tx_id), lines=[m.RefundLine(line_no=0, quantity=1)], reason="r")
    [back] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], op, staff=cashier)])
    assert back.accepted, back.message
    assert back.net_cents == 2_700 * 9 // 10  # the member price, less the welcome 10 %


CSV_OK = (
    "sku,barcode,name_zh,name_en,category,retail_yuan,points_excluded,price_gold\n"
    "SH-1,6901234567892,洗发水,Shampoo,personal_care,30.00,no,25\n"
    "CG-1,,香烟,Cigarettes,tobacco,20,yes,\n"
)


def test_csv_import_is_all_or_nothing(seeded: Seeded) -> None:
    bad = CSV_OK + "TE-1,,绿茶,Tea,drinks,1.234,no,\nSH-1,,x,x,x,1,maybe,\n"
    parsed = products.parse_csv(bad, TIERS)
    assert [e.row for e in parsed.errors] == [4, 5]
    with seeded.hub.transaction() as conn, pytest.raises(products.ProductError, match="row 4"):
        products.import_csv(conn, bad, "hq", TIERS)
    with seeded.hub.transaction() as conn:
        assert products.version(conn) == 0
        assert products.import_csv(conn, CSV_OK, "hq", TIERS) == 1
        found, total = products.search(conn, "洗发")
    assert total == 1
    assert found[0].member_cents == {"gold": 2_500}


def test_the_catalog_is_published_retained_and_again_at_each_version(seeded: Seeded) -> None:
    feed = ConfigFeed(seeded.hub)
    assert not [o for o in feed.due() if isinstance(o.body, m.ProductCatalog)]  # no catalog
    _catalog(seeded)
    feed._checked_at = 0.0  # the feed looks at most every CONFIG_CHECK_S
    [sent] = [o for o in feed.due() if isinstance(o.body, m.ProductCatalog)]
    assert (sent.topic, sent.retain) == (PRODUCTS_TOPIC, True)
    assert isinstance(sent.body, m.ProductCatalog)
    assert (sent.body.version, [p.sku for p in sent.body.products]) == (1, ["CG-1", "SH-1"])
    feed.published(sent)
    feed._checked_at = 0.0
    assert not [o for o in feed.due() if isinstance(o.body, m.ProductCatalog)]
    with seeded.hub.transaction() as conn:
        products.remove(conn, "CG-1", "hq")
    feed._checked_at = 0.0
    [again] = [o for o in feed.due() if isinstance(o.body, m.ProductCatalog)]
    assert isinstance(again.body, m.ProductCatalog) and again.body.version == 2
