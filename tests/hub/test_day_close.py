"""The daily close (日结) of a branch, on SQLite and on PostgreSQL.

Scenario: at shop-1's counter ann sells for cash, sells again paid from stored value
and WeChat Pay, tops a card up by bank card and refunds part of the cash sale; she
closes the till's shift ¥2.00 over (a staff request, recorded once however often it is
sent). The day's figures by tender equal what the journal moved on each tender's
account, by device too, with the shift and its difference. A cashier cannot sign the
day off, a manager of another branch neither; ann's manager does, once; a sale booked
on the closed day afterwards shows as booked after the close, beside the signed
figures. The CLI shows and closes a day; a bad date is a clear error. `verify` stays
clean.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest

from hub import staff, till
from hub.posting import balance
from hub.verify import verify_ledger
from tapcard.device.intents import StaffBadge
from tapcard.domain.authority import business_date
from tapcard.domain.model import Payment, StaffRole
from tapcard.errors import ConflictError, ValidationError
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tests.conftest import Seeded
from tests.hub.support import Device, purchase, staff_on_duty
from tests.hub.test_cli import Cli, open_hub

ACCOUNTS = {
    "cash": "s:cash",
    "wechat": "s:clearing_wechat",
    "bank_card": "s:clearing_bank_card",
}


def _balances(seeded: Seeded) -> dict[str, int]:
    with seeded.hub.engine.connect() as conn:
        return {t: balance(conn, code) for t, code in ACCOUNTS.items()}


def _one(seeded: Seeded, dev: Device, badge: StaffBadge, op: m.AnyOp) -> m.TxResult:
    [r] = seeded.hub.ledger.apply_batch([dev.incoming(seeded.cards[0], op, staff=badge)])
    assert r.accepted, r.message
    return r


def _book_a_day(seeded: Seeded, dev: Device, badge: StaffBadge) -> dict[str, int]:
    """The day's sales; what each went to, in cents, as the results say."""
    cash = _one(seeded, dev, badge, purchase(10_000, 5_000, receipt_no="R-D1"))
    _one(seeded, dev, badge, m.TopUp(amount_cents=8_000))  # cash into stored value
    wechat = m.TenderPart(payment=Payment.WECHAT, amount_cents=3_000, ref="WX-1")
    probe = purchase(4_000, pay=Payment.STORED_VALUE)
    quote_net = _net_of(seeded, dev, badge, probe)
    stored = m.TenderPart(payment=Payment.STORED_VALUE, amount_cents=quote_net - 3_000)
    split = msgspec.structs.replace(probe, tenders=[stored, wechat])
    _one(seeded, dev, badge, split)
    bank = m.TenderPart(payment=Payment.BANK_CARD, amount_cents=20_000, ref="POS-9")
    _one(seeded, dev, badge, m.TopUp(amount_cents=20_000, tenders=[bank]))
    line = [m.RefundLine(line_no=1, quantity=1)]
    back = _one(seeded, dev, badge, m.Refund(ref="R-D1", lines=line, reason="damaged"))
    return {
        "cash": cash.net_cents + 8_000 - back.net_cents,
        "wechat": 3_000,
        "bank_card": 20_000,
        "stored_value": quote_net - 3_000,
    }


def _net_of(seeded: Seeded, dev: Device, badge: StaffBadge, sale: m.Purchase) -> int:
    """What the hub charges for `sale` now, asked with a split it refuses (books nothing)."""
    one_cent = [m.TenderPart(payment=Payment.CASH, amount_cents=1)]
    asked = msgspec.structs.replace(sale, payment=Payment.CASH, tenders=one_cent)
    [r] = seeded.hub.ledger.apply_batch([dev.incoming(seeded.cards[0], asked, staff=badge)])
    assert not r.accepted and "amount due is" in r.message
    return int(r.message.split("amount due is ")[1].split()[0])


def _close_shift(seeded: Seeded, badge: StaffBadge, device: str, op: sm.CloseShift) -> None:
    request = sm.StaffRequest(device=device, staff=badge.staff_id, session=badge.session, op=op)
    reply = staff.handle(seeded.hub, request, "shop-1")
    assert reply.error == "" and reply.shift_id == op.shift_id, reply.message


def test_the_day_close_equals_the_ledger_and_is_signed_once(seeded: Seeded) -> None:
    hub = seeded.hub
    dev = Device(seeded.device_id, seeded.device_key)
    ann = staff_on_duty(hub, seeded.device_id, "ann")
    before = _balances(seeded)
    taken = _book_a_day(seeded, dev, ann)
    after = _balances(seeded)
    zone = hub.rules.latest().time_zone
    today = business_date(hub.clock.now_ms(), zone)
    now = hub.clock.now_ms()
    shift = sm.CloseShift(
        shift_id=str(uuid.uuid4()),
        opened_ms=now - 3_600_000,
        closed_ms=now,
        opened_by="ann",
        float_cents=20_000,
        cash_in_cents=taken["cash"] + 500,  # the refund paid out is cash out
        cash_out_cents=500,
        counted_cents=20_000 + taken["cash"] + 200,
    )
    _close_shift(seeded, ann, seeded.device_id, shift)
    _close_shift(seeded, ann, seeded.device_id, shift)  # sent again: recorded once

    with hub.engine.connect() as conn:
        figures = till.day_figures(conn, "shop-1", today, zone)
    # Each tender's figure is what the journal moved on its account (debits - credits).
    for tender in ACCOUNTS:
        assert figures.by_tender.get(tender, 0) == before[tender] - after[tender], tender
    assert figures.by_tender == {k: v for k, v in taken.items() if v}
    assert figures.by_device == {seeded.device_id: figures.by_tender}
    (recorded,) = figures.shifts
    assert recorded["shift_id"] == shift.shift_id
    assert recorded["expected_cents"] == 20_000 + taken["cash"]
    assert recorded["difference_cents"] == 200 == figures.difference_cents
    assert recorded["mismatch_cents"] == 0 == figures.mismatch_cents  # as the hub booked

    with hub.transaction() as conn:
        staff.add_staff(conn, "cid", "Cid", "shop-1", StaffRole.CASHIER, "1357", "test")
        staff.add_staff(conn, "mia", "Mia", "shop-1", StaffRole.MANAGER, "1357", "test")
    for who, why in (("cid", "not an active manager"), ("nobody", "not an active manager")):
        with pytest.raises(ValidationError, match=why), hub.transaction() as conn:
            till.close_day(conn, "shop-1", today, who, zone, now)
    with hub.transaction() as conn:
        signed = till.close_day(conn, "shop-1", today, "mia", zone, now)
    assert signed.by_tender == figures.by_tender
    with pytest.raises(ConflictError), hub.transaction() as conn:
        till.close_day(conn, "shop-1", today, "mia", zone, now)

    _one(seeded, dev, ann, purchase(1_000))  # booked on the closed day: flagged
    with hub.engine.connect() as conn:
        report = till.day_report(conn, "shop-1", today, zone)
        assert verify_ledger(conn).errors == []
    assert report["closed"] and report["closed_by"] == "mia"
    assert report["signed_by_tender"] == figures.by_tender
    assert set(report["after_close"]) == {"cash"} and report["after_close"]["cash"] > 0


def test_the_cli_shows_and_closes_a_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = Cli(tmp_path / "data", capsys)
    run.ok("init")
    run.ok("rules", "load", "--sample")
    run.ok("branch", "add", "shop-1", "--name", "Shop one")
    hub = open_hub(run)
    try:
        with hub.transaction() as conn:
            staff.add_staff(conn, "mia", "Mia", "shop-1", StaffRole.MANAGER, "1357", "test")
    finally:
        hub.close()
    day = run.json("day", "--branch", "shop-1", "--json")
    assert day["closed"] is False and day["by_tender"] == {} and day["shifts"] == []
    assert "not a date" in run.error("day", "--branch", "shop-1", "--date", "2026-13-40")
    assert "no branch" in run.error("day", "--branch", "shop-9")
    closed = run.json("close-day", "--branch", "shop-1", "--manager", "mia", "--yes", "--json")
    assert closed["closed"] is True and closed["closed_by"] == "mia"
    again = ("close-day", "--branch", "shop-1", "--manager", "mia", "--yes")
    assert "closed already" in run.error(*again)
    shown = run.ok("day", "--branch", "shop-1")
    assert "closed by" in shown and "mia" in shown
    assert "till vs hub cash" in shown and "¥0.00" in shown
