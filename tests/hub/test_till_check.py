"""The hub's check of a till's cash against its own ledger, on SQLite and PostgreSQL.

Scenario: at shop-1's counter ann sells for cash before her shift, then in it sells for
cash, tops a card up in cash and refunds part of the sale in cash; her till also counted
a ¥30.00 cash sale whose intent the hub never got (the device lost it). The hub's cash
for the device from open to close is what the journal moved on the cash account in that
window (not the sale before the shift), so the shift is ¥30.00 over the hub's ledger, at
the report and after; the manager's sign-off keeps it. A second shift sells online and
offline: its report comes before the offline intent, so at the report the till is one
sale over the hub, and once the intent arrives (dated by the device inside the shift)
the mismatch is gone, the one at the report kept beside it. `verify` stays clean.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hub import staff, till
from hub.posting import balance
from hub.verify import verify_ledger
from tapcard.clock import ManualClock
from tapcard.device.intents import StaffBadge
from tapcard.domain.authority import business_date
from tapcard.domain.model import StaffRole
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tests.clock import pinned_now_ms
from tests.conftest import Seeded
from tests.hub.support import Device, purchase, staff_on_duty

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
LOST_CENTS = 3_000  # the sale the till counted and the hub never got


def _at(seeded: Seeded, now_ms: int) -> None:
    seeded.hub.ledger.clock = ManualClock(now_ms)


def _book(seeded: Seeded, dev: Device, ann: StaffBadge, op: m.AnyOp, **kw: object) -> m.TxResult:
    [r] = seeded.hub.ledger.apply_batch([dev.incoming(seeded.cards[0], op, staff=ann, **kw)])
    assert r.accepted, r.message
    return r


def _shift(opened_ms: int, closed_ms: int, cash_in: int, cash_out: int = 0) -> sm.CloseShift:
    float_cents = 10_000
    return sm.CloseShift(
        shift_id=str(uuid.uuid4()),
        opened_ms=opened_ms,
        closed_ms=closed_ms,
        opened_by="ann",
        float_cents=float_cents,
        cash_in_cents=cash_in,
        cash_out_cents=cash_out,
        counted_cents=float_cents + cash_in - cash_out,  # the drawer held what the till says
    )


def _report(seeded: Seeded, op: sm.CloseShift, now_ms: int) -> None:
    zone = seeded.hub.rules.latest().time_zone
    with seeded.hub.transaction() as conn:
        till.record_shift(conn, seeded.device_id, "shop-1", op, "ann", now_ms, zone)


def _day(seeded: Seeded, at_ms: int) -> dict[str, Any]:
    zone = seeded.hub.rules.latest().time_zone
    with seeded.hub.engine.connect() as conn:
        return till.day_report(conn, "shop-1", business_date(at_ms, zone), zone)


def _cash(seeded: Seeded) -> int:
    with seeded.hub.engine.connect() as conn:
        return balance(conn, "s:cash")


def test_a_lost_intent_is_a_mismatch_the_manager_signs(seeded: Seeded) -> None:
    dev = Device(seeded.device_id, seeded.device_key)
    ann = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    start = pinned_now_ms() + HOUR_MS
    _at(seeded, start - HOUR_MS)
    _book(seeded, dev, ann, purchase(8_000))  # before the shift opened: not its cash
    _at(seeded, start + MINUTE_MS)
    before = _cash(seeded)
    sale = _book(seeded, dev, ann, purchase(10_000, 5_000, receipt_no="R-T1"))
    _book(seeded, dev, ann, m.TopUp(amount_cents=5_000))
    line = [m.RefundLine(line_no=1, quantity=1)]
    back = _book(seeded, dev, ann, m.Refund(ref="R-T1", lines=line, reason="damaged"))
    # The cash account's debits less credits in the window: what the drawer should hold.
    hub_net = before - _cash(seeded)
    assert hub_net == sale.net_cents + 5_000 - back.net_cents
    cash_in = sale.net_cents + 5_000 + LOST_CENTS
    shift = _shift(start, start + 30 * MINUTE_MS, cash_in, back.net_cents)
    _report(seeded, shift, start + 31 * MINUTE_MS)

    day = _day(seeded, start)
    [seen] = day["shifts"]
    assert seen["hub_cash_in_cents"] == sale.net_cents + 5_000
    assert seen["hub_cash_out_cents"] == back.net_cents
    assert seen["difference_cents"] == 0  # the drawer matches the till: not the hub
    assert seen["mismatch_cents"] == seen["mismatch_at_report_cents"] == LOST_CENTS
    assert day["mismatch_cents"] == LOST_CENTS

    zone = seeded.hub.rules.latest().time_zone
    today = business_date(start, zone)
    with seeded.hub.transaction() as conn:
        staff.add_staff(conn, "mia", "Mia", "shop-1", StaffRole.MANAGER, "1357", "test")
        signed = till.close_day(conn, "shop-1", today, "mia", zone, start + HOUR_MS)
    assert signed.to_dict()["mismatch_cents"] == LOST_CENTS
    closed = _day(seeded, start)
    assert closed["signed_mismatch_cents"] == LOST_CENTS == closed["mismatch_cents"]
    with seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


def test_an_offline_sale_sent_after_the_report_clears_the_mismatch(seeded: Seeded) -> None:
    dev = Device(seeded.device_id, seeded.device_key)
    ann = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    start = pinned_now_ms() + HOUR_MS
    _at(seeded, start + MINUTE_MS)
    online = _book(seeded, dev, ann, purchase(4_000))
    sold_offline_ms = start + 10 * MINUTE_MS
    late = dev.incoming(
        seeded.cards[0], purchase(4_000), staff=ann, created_ms=sold_offline_ms, offline=True
    )
    # The till counted both sales; the offline one is still in its outbox at the report.
    shift = _shift(start, start + 20 * MINUTE_MS, 2 * online.net_cents)
    _report(seeded, shift, start + 21 * MINUTE_MS)
    [at_report] = _day(seeded, start)["shifts"]
    assert at_report["mismatch_cents"] == at_report["mismatch_at_report_cents"]
    assert at_report["mismatch_cents"] == online.net_cents

    _at(seeded, start + 40 * MINUTE_MS)  # the device is back: its outbox flushes
    [r] = seeded.hub.ledger.apply_batch([late])
    assert r.accepted and r.net_cents == online.net_cents, r.message
    day = _day(seeded, start)
    [now] = day["shifts"]
    assert now["hub_cash_in_cents"] == 2 * online.net_cents
    assert now["mismatch_cents"] == 0 == day["mismatch_cents"]
    assert now["mismatch_at_report_cents"] == online.net_cents  # kept as it was reported
    assert business_date(start, seeded.hub.rules.latest().time_zone) == dt.date.fromisoformat(
        str(day["day"])
    )
