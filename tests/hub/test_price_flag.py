"""An offline sale priced by an older product catalog is flagged as such, on SQLite and
on PostgreSQL: `price_changed` on its result and a `catalog_price` exception for HQ, not
`offline_exception`, which stays for what the offline policy let through.

Scenario: HQ has raised the shampoo to ¥30 (¥27 for regular members); a till whose
catalog still says ¥25 sells one offline. The hub books its own price and flags the
result as repriced. An offline sale from stored value the card does not hold is an
offline exception and no price change; a sale at the hub's price is neither.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import db
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tests.conftest import Seeded
from tests.hub.support import Device, staff_on_duty
from tests.hub.test_products import _catalog


def _kinds(seeded: Seeded) -> list[str]:
    with seeded.hub.engine.connect() as conn:
        return list(
            conn.execute(sa.select(db.exceptions.c.kind).order_by(db.exceptions.c.id)).scalars()
        )


def test_a_sale_at_an_older_catalog_price_is_flagged_as_repriced(seeded: Seeded) -> None:
    _catalog(seeded)
    ann = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    dev = Device(seeded.device_id, seeded.device_key)
    card = seeded.cards[0]
    old_price = m.Purchase(
        lines=[SaleLine("personal_care", 2_500, 1, "SH-1")], payment=Payment.CASH
    )
    hub_price = m.Purchase(
        lines=[SaleLine("personal_care", 3_000, 1, "SH-1")], payment=Payment.CASH
    )
    overdraw = m.Purchase(
        lines=[SaleLine("personal_care", 3_000, 1, "SH-1")], payment=Payment.STORED_VALUE
    )
    repriced, overdrawn, online = seeded.hub.ledger.apply_batch(
        [
            dev.incoming(card, old_price, staff=ann, offline=True),
            dev.incoming(card, overdraw, staff=ann, offline=True),
            dev.incoming(card, hub_price, staff=ann),
        ]
    )
    assert repriced.accepted and repriced.price_changed and not repriced.offline_exception
    assert repriced.net_cents == 2_700 - 270  # the regular price less the welcome 10 %
    assert overdrawn.accepted and overdrawn.offline_exception and not overdrawn.price_changed
    assert online.accepted and not online.offline_exception and not online.price_changed
    assert _kinds(seeded) == ["catalog_price", "offline_overdraw"]
