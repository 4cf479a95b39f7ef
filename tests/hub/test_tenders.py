"""Tenders and split payment at the hub, on SQLite and on PostgreSQL.

Scenario: a counter with a cashier logged in sells to a member who pays ¥50 from stored
value and the rest by WeChat Pay with its transaction number; each tender posts to its
own account (the member's stored value, the WeChat clearing account). A split that does
not sum to the amount due, one naming another first tender than its payment, and a
top-up from stored value are refused and book nothing. A bank-card top-up and a split
fee post to their accounts. A partial refund of the split sale goes back to its last
tender first, then to stored value. `verify` proves every balance throughout.
"""

from __future__ import annotations

import msgspec
import pytest
import sqlalchemy as sa

from hub import db
from hub.posting import balance
from hub.verify import verify_ledger
from tapcard.device.intents import StaffBadge
from tapcard.domain.model import FeeKind, Payment
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.conftest import Seeded
from tests.hub.support import Device, purchase, staff_on_duty

WECHAT = "s:clearing_wechat"
BANK = "s:clearing_bank_card"
CASH = "s:cash"
NET = 18_000  # 19,999 for a new member: the 10 % welcome discount, rounded down
TOPPED_UP = 10_000


@pytest.fixture
def till(seeded: Seeded) -> tuple[Device, StaffBadge]:
    return Device(seeded.device_id, seeded.device_key), staff_on_duty(
        seeded.hub, seeded.device_id, "ann"
    )


def one(seeded: Seeded, till: tuple[Device, StaffBadge], op: m.AnyOp) -> m.TxResult:
    device, badge = till
    [result] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], op, staff=badge)])
    return result


def account(seeded: Seeded, code: str) -> int:
    with seeded.hub.engine.connect() as conn:
        return balance(conn, code)


def transfers(seeded: Seeded) -> int:
    with seeded.hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one())


def assert_verified(seeded: Seeded) -> None:
    with seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


def split_sale(
    stored_cents: int, wechat_cents: int, first: Payment = Payment.STORED_VALUE
) -> m.Purchase:
    parts = [
        m.TenderPart(payment=Payment.STORED_VALUE, amount_cents=stored_cents),
        m.TenderPart(payment=Payment.WECHAT, amount_cents=wechat_cents, ref="4200001234202612"),
    ]
    sale = purchase(19_999, pay=first, receipt_no="R-SPLIT-1")
    return msgspec.structs.replace(sale, tenders=parts)


def test_a_split_sale_posts_each_tender_to_its_account(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    assert one(seeded, till, m.TopUp(amount_cents=TOPPED_UP)).accepted
    wechat_before = account(seeded, WECHAT)
    sale = one(seeded, till, split_sale(5_000, NET - 5_000))
    assert sale.accepted, sale.message
    assert sale.net_cents == NET
    assert sale.balances is not None and sale.balances.stored_value_cents == TOPPED_UP - 5_000
    # Clearing accounts are assets of the chain: a debit makes the balance go down.
    assert account(seeded, WECHAT) - wechat_before == -(NET - 5_000)
    with seeded.hub.engine.connect() as conn:
        detail = conn.execute(
            sa.select(db.transfers.c.detail).where(db.transfers.c.kind == "purchase")
        ).scalar_one()
    assert msgspec.json.decode(detail)["tenders"] == [
        ["stored_value", 5_000, ""],
        ["wechat", NET - 5_000, "4200001234202612"],
    ]
    assert_verified(seeded)


@pytest.mark.parametrize(
    ("stored", "wechat", "first", "why"),
    [
        (5_000, NET - 5_001, Payment.STORED_VALUE, "amount due is 18000"),  # one cent short
        (5_000, NET, Payment.STORED_VALUE, "sum to 23000"),  # more than due
        (5_000, NET - 5_000, Payment.WECHAT, "names its first tender"),
        (TOPPED_UP + 1, NET - TOPPED_UP - 1, Payment.STORED_VALUE, "does not cover"),
    ],
)
def test_a_split_that_does_not_pay_exactly_books_nothing(
    seeded: Seeded,
    till: tuple[Device, StaffBadge],
    stored: int,
    wechat: int,
    first: Payment,
    why: str,
) -> None:
    assert one(seeded, till, m.TopUp(amount_cents=TOPPED_UP)).accepted
    before, wechat_before = transfers(seeded), account(seeded, WECHAT)
    refused = one(seeded, till, split_sale(stored, wechat, first))
    assert not refused.accepted
    assert refused.reason in (Reason.INVALID_REQUEST, Reason.INSUFFICIENT_FUNDS)
    assert why in refused.message
    assert transfers(seeded) == before
    assert account(seeded, WECHAT) == wechat_before
    assert_verified(seeded)


def test_top_ups_and_fees_by_other_tenders(seeded: Seeded, till: tuple[Device, StaffBadge]) -> None:
    bank = [m.TenderPart(payment=Payment.BANK_CARD, amount_cents=TOPPED_UP, ref="REF-778812")]
    bank_before, cash_before = account(seeded, BANK), account(seeded, CASH)
    up = one(seeded, till, m.TopUp(amount_cents=TOPPED_UP, tenders=bank))
    assert up.accepted, up.message
    assert account(seeded, BANK) - bank_before == -TOPPED_UP
    assert account(seeded, CASH) == cash_before
    from_stored = [m.TenderPart(payment=Payment.STORED_VALUE, amount_cents=TOPPED_UP)]
    refused = one(seeded, till, m.TopUp(amount_cents=TOPPED_UP, tenders=from_stored))
    assert refused.reason == Reason.INVALID_REQUEST and "stored value" in refused.message
    fee = m.Fee(fee=FeeKind.JOINING, payment=Payment.CASH)
    whole = one(seeded, till, fee)
    assert whole.accepted and whole.net_cents > 1
    due = whole.net_cents
    split = [
        m.TenderPart(payment=Payment.CASH, amount_cents=1),
        m.TenderPart(payment=Payment.ALIPAY, amount_cents=due - 1, ref="2026120222001"),
    ]
    alipay_before = account(seeded, "s:clearing_alipay")
    assert one(seeded, till, msgspec.structs.replace(fee, tenders=split)).accepted
    assert account(seeded, "s:clearing_alipay") - alipay_before == -(due - 1)
    short = [m.TenderPart(payment=Payment.CASH, amount_cents=due - 1)]
    assert one(seeded, till, msgspec.structs.replace(fee, tenders=short)).reason == (
        Reason.INVALID_REQUEST
    )
    assert_verified(seeded)


def test_a_refund_of_a_split_sale_goes_back_last_tender_first(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    assert one(seeded, till, m.TopUp(amount_cents=TOPPED_UP)).accepted
    wechat_paid = 10_000
    sale = one(seeded, till, split_sale(NET - wechat_paid, wechat_paid))
    assert sale.accepted, sale.message
    stored_after_sale = TOPPED_UP - (NET - wechat_paid)
    wechat_before = account(seeded, WECHAT)
    whole = m.Refund(ref="R-SPLIT-1", reason="changed mind")
    back = one(seeded, till, whole)
    assert back.accepted, back.message
    assert back.net_cents == NET
    # WeChat gets its 10,000 back (its clearing account credited), stored value the rest.
    assert account(seeded, WECHAT) - wechat_before == wechat_paid
    assert back.balances is not None
    assert back.balances.stored_value_cents == stored_after_sale + NET - wechat_paid
    with seeded.hub.engine.connect() as conn:
        detail = conn.execute(
            sa.select(db.transfers.c.detail).where(db.transfers.c.kind == "refund")
        ).scalar_one()
    assert msgspec.json.decode(detail)["tenders"] == [
        ["wechat", wechat_paid, "4200001234202612"],
        ["stored_value", NET - wechat_paid, ""],
    ]
    assert_verified(seeded)
