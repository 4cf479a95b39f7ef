"""An offline intent's window starts at the device's last contact with the hub.

Scenario: the terminal sells online at 09:00 (hub time), then the hub hears nothing from
it for two hours. When it comes back, its offline sales dated after 09:00 keep their
time; one dated 08:00, before it went quiet (still within the day's offline age), is
moved to its last contact less the clock skew and flagged for HQ, as a date past the
offline age is. The broker's will (an offline status) is not a contact: a sale made
between the device's last word and the will keeps its time. A device's own clock in a
status never moves its contact.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import db
from hub.registry import CONTACT_GAP_MS, record_status
from tapcard.clock import ManualClock
from tapcard.domain.authority import CLOCK_SKEW_MS
from tapcard.wire import messages as m
from tests.clock import pinned_now_ms
from tests.conftest import Seeded
from tests.hub.support import Device, purchase

HOUR_MS = 3_600_000


def _at(seeded: Seeded, now_ms: int) -> None:
    seeded.hub.ledger.clock = ManualClock(now_ms)


def _booked_at(seeded: Seeded) -> list[int]:
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.transfers.c.created_ms).order_by(db.transfers.c.seq))
        return [int(r.created_ms) for r in rows]


def _offline_dates(seeded: Seeded) -> int:
    with seeded.hub.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(db.exceptions.c.kind == "offline_date")
        return int(conn.execute(query.select_from(db.exceptions)).scalar_one())


def _contact(seeded: Seeded) -> tuple[int, int]:
    d = db.devices
    with seeded.hub.engine.connect() as conn:
        row = conn.execute(
            sa.select(d.c.last_seen_ms, d.c.offline_from_ms).where(d.c.id == seeded.device_id)
        ).one()
    return int(row.last_seen_ms), int(row.offline_from_ms)


def test_an_offline_sale_dated_before_the_last_contact_is_moved(seeded: Seeded) -> None:
    device = Device(seeded.device_id, seeded.device_key)
    card = seeded.cards[0]
    nine = pinned_now_ms() + 3 * HOUR_MS  # well after the device was provisioned
    _at(seeded, nine)
    [online] = seeded.hub.ledger.apply_batch([device.incoming(card, purchase(1_000))])
    assert online.accepted and _contact(seeded)[0] == nine
    eleven = nine + 2 * HOUR_MS
    _at(seeded, eleven)
    after, before = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, purchase(1_000), created_ms=nine + HOUR_MS, offline=True),
            device.incoming(card, purchase(1_000), created_ms=nine - HOUR_MS, offline=True),
        ]
    )
    assert after.accepted and not after.offline_exception
    assert before.accepted and before.offline_exception  # booked, flagged for HQ
    assert _booked_at(seeded) == [nine, nine + HOUR_MS, nine - CLOCK_SKEW_MS]
    assert _offline_dates(seeded) == 1
    assert _contact(seeded) == (eleven, nine)
    # Within one connection the start stays where the silence ended it.
    _at(seeded, eleven + CONTACT_GAP_MS // 2)
    [late] = seeded.hub.ledger.apply_batch(
        [device.incoming(card, purchase(1_000), created_ms=nine + 1, offline=True)]
    )
    assert late.accepted and not late.offline_exception
    assert _contact(seeded) == (eleven + CONTACT_GAP_MS // 2, nine)


def test_the_will_is_no_contact_and_the_device_clock_moves_nothing(seeded: Seeded) -> None:
    device = Device(seeded.device_id, seeded.device_key)
    card = seeded.cards[0]
    nine = pinned_now_ms() + 3 * HOUR_MS
    record_status(seeded.hub.writer, m.Status(device=device.device_id, online=True, at_ms=1), nine)
    assert _contact(seeded)[0] == nine
    # The broker's will, an hour later, dated by the device far in the future.
    future_ms = nine + 1_000 * HOUR_MS
    will = m.Status(device=device.device_id, online=False, at_ms=future_ms)
    record_status(seeded.hub.writer, will, nine + HOUR_MS)
    assert _contact(seeded)[0] == nine
    _at(seeded, nine + 2 * HOUR_MS)
    made = nine + 10 * 60_000  # after its last word, before the will
    [sale] = seeded.hub.ledger.apply_batch(
        [device.incoming(card, purchase(1_000), created_ms=made, offline=True)]
    )
    assert sale.accepted and not sale.offline_exception
    assert _booked_at(seeded) == [made]
    assert _contact(seeded) == (nine + 2 * HOUR_MS, nine)
