"""Refunds at the hub, on SQLite and on PostgreSQL.

Scenario: a terminal with a cashier logged in sells to a member, then refunds some of
it, by transfer id or receipt number, once or in several visits: the money goes back as
paid (cash paid out, or stored value to the card) against the refunds account, the
points and growth come back off the member, and a spend-over discount the rest no
longer reaches comes out of the refund. A refund asking for more than is left, two
refunds of one line in one batch, an unknown reference and a replay all change nothing
beyond what they should; points already spent become an exception for HQ; a reward
given back restores its points and stock and voids its voucher, which then no longer
counts; a used voucher is not refunded. `verify` stays clean throughout.
"""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
import sqlalchemy as sa

from hub import admin, db, staff
from hub.admin.refund import book_refund
from hub.posting import balance
from hub.refund_report import refunds_by
from hub.refunds import RefundBook
from hub.reports import turnover
from hub.rulestore import parse_rules, store_rules
from hub.verify import verify_ledger
from tapcard.device.intents import StaffBadge
from tapcard.domain.model import Asset, Payment
from tapcard.errors import TapcardError
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.codes import Reason
from tests.conftest import Seeded, credit
from tests.hub.support import Device, purchase, staff_on_duty


@pytest.fixture
def till(seeded: Seeded) -> tuple[Device, StaffBadge]:
    return Device(seeded.device_id, seeded.device_key), staff_on_duty(
        seeded.hub, seeded.device_id, "ann"
    )


def _one(seeded: Seeded, till: tuple[Device, StaffBadge], op: m.AnyOp, **kw: object) -> m.TxResult:
    device, badge = till
    [result] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], op, staff=badge)])
    return result


def refund(ref: str, *lines: tuple[int, int], reason: str = "damaged") -> m.Refund:
    return m.Refund(
        ref=ref, lines=[m.RefundLine(line_no=n, quantity=q) for n, q in lines], reason=reason
    )


def balances(seeded: Seeded) -> dict[str, int]:
    with seeded.hub.engine.connect() as conn:
        return dict(admin.member_view(conn, seeded.members[0])["balances"])


def account(seeded: Seeded, code: str) -> int:
    with seeded.hub.engine.connect() as conn:
        return balance(conn, code)  # a system account's is summed from its daily totals


def assert_verified(seeded: Seeded) -> None:
    with seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


def test_a_partial_refund_gives_cash_back_and_takes_points(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(10_000, 5_000, receipt_no="R-1"))
    assert sale.accepted
    back = _one(seeded, till, refund("R-1", (1, 1)))
    assert back.accepted, back.message
    # The welcome discount (10 %) applies to both lines alike: 5,000 -> 4,500 back.
    assert back.net_cents == sale.net_cents - 9_000
    assert back.points_spent == sale.points_earned - 90
    assert balances(seeded)["points"] == 90
    assert account(seeded, "s:refunds") == -back.net_cents
    assert account(seeded, "s:cash") == -sale.net_cents + back.net_cents
    assert_verified(seeded)


def test_replaying_a_refund_changes_nothing(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(10_000, 5_000))
    device, badge = till
    incoming = device.incoming(seeded.cards[0], refund(str(sale.tx_id), (0, 1)), staff=badge)
    [first] = seeded.hub.ledger.apply_batch([incoming])
    again = seeded.hub.ledger.apply_batch([incoming, incoming])
    assert first.accepted and again == [first, first]
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.refund_lines)).all()
    assert [(r.line_no, r.quantity) for r in rows] == [(0, 1)]
    assert_verified(seeded)


def test_more_than_was_sold_is_refused_also_within_one_batch(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(10_000, 5_000))
    ref = str(sale.tx_id)
    over = _one(seeded, till, refund(ref, (0, 2)))
    assert (over.accepted, over.reason) == (False, Reason.REFUND_EXCEEDS_SALE)
    no_line = _one(seeded, till, refund(ref, (5, 1)))
    assert no_line.reason == Reason.REFUND_EXCEEDS_SALE
    device, badge = till
    card = seeded.cards[0]
    both = seeded.hub.ledger.apply_batch(
        [device.incoming(card, refund(ref, (0, 1)), staff=badge) for _ in range(2)]
    )
    assert [r.accepted for r in both] == [True, False]
    assert both[1].reason == Reason.REFUND_EXCEEDS_SALE
    whole = _one(seeded, till, refund(ref))
    assert whole.accepted
    assert both[0].net_cents + whole.net_cents == sale.net_cents
    assert _one(seeded, till, refund(ref)).reason == Reason.NOT_REFUNDABLE
    assert balances(seeded) == {"cents": 0, "points": 0, "growth": 0}
    assert_verified(seeded)


def test_unknown_references_and_cards_of_other_members_are_refused(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    assert _one(seeded, till, refund("R-NONE")).reason == Reason.UNKNOWN_REFERENCE
    sale = _one(seeded, till, purchase(10_000))
    device, badge = till
    other = device.incoming(seeded.cards[1], refund(str(sale.tx_id)), staff=badge)
    [result] = seeded.hub.ledger.apply_batch([other])
    assert result.reason == Reason.NOT_REFUNDABLE
    unstaffed = device.incoming(seeded.cards[0], refund(str(sale.tx_id)))
    assert seeded.hub.ledger.apply_batch([unstaffed])[0].reason == Reason.STAFF_UNVERIFIED


def test_stored_value_goes_back_to_the_card(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    credit(seeded.hub, seeded.members[0], Asset.CENTS, 50_000)
    sale = _one(seeded, till, purchase(10_000, pay=Payment.STORED_VALUE))
    assert sale.accepted
    back = _one(seeded, till, refund(str(sale.tx_id)))
    assert back.accepted and back.net_cents == sale.net_cents
    assert back.balances is not None and back.balances.stored_value_cents == 50_000
    assert_verified(seeded)


def _spend_over_rules(seeded: Seeded) -> int:
    """The sample rules with only 满200减20 (no welcome discount), as version 2."""
    rules = parse_rules(sample_rules_bytes())
    spend = tuple(c for c in rules.campaigns if c.code == "SPEND200-GET20")
    changed = dataclasses.replace(rules, version=2, campaigns=spend, multipliers=())
    with seeded.hub.transaction() as conn:
        store_rules(conn, parse_rules(msgspec.json.encode(changed)), "test")
    return 2


def test_a_spend_over_discount_the_rest_no_longer_reaches_comes_out_of_the_refund(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    till[0].rules_version = _spend_over_rules(seeded)
    sale = _one(seeded, till, purchase(10_000, 10_000, 5_000))
    assert sale.net_cents == 23_000  # 250 yuan, 20 off
    first = _one(seeded, till, refund(str(sale.tx_id), (2, 1)))
    assert first.net_cents == 5_000  # the rest, 200, still reaches the threshold
    second = _one(seeded, till, refund(str(sale.tx_id), (1, 1)))
    assert second.net_cents == 8_000  # the rest, 100, does not: the 20 off comes back out
    last = _one(seeded, till, refund(str(sale.tx_id)))
    assert first.net_cents + second.net_cents + last.net_cents == sale.net_cents
    assert balances(seeded)["points"] == 0
    assert_verified(seeded)


def test_points_already_spent_are_an_exception_not_a_negative_balance(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(100_000))
    assert sale.points_earned == 900
    spent = _one(seeded, till, m.Redeem(item="PARK-HOUR", units=8))  # 800 points
    assert spent.accepted
    back = _one(seeded, till, refund(str(sale.tx_id)))
    assert back.accepted and back.points_spent == 100
    assert balances(seeded)["points"] == 0
    with seeded.hub.engine.connect() as conn:
        found = conn.execute(
            sa.select(db.exceptions.c.kind, db.exceptions.c.amount).where(
                db.exceptions.c.tx_id == str(back.tx_id)
            )
        ).all()
    assert [tuple(r) for r in found] == [("refund_points_shortfall", 800)]
    assert_verified(seeded)


def test_a_reward_given_back_restores_points_and_stock_and_voids_the_voucher(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    credit(seeded.hub, seeded.members[0], Asset.POINTS, 5_000)
    reward = _one(seeded, till, m.Redeem(item="PRIZE-UMBRELLA"))
    assert reward.accepted
    back = _one(seeded, till, refund(str(reward.tx_id), reason="wrong colour"))
    assert back.accepted and back.points_earned == 3_000
    assert balances(seeded)["points"] == 5_000
    with seeded.hub.engine.connect() as conn:
        stock = conn.execute(
            sa.select(db.stock.c.remaining).where(db.stock.c.item == "PRIZE-UMBRELLA")
        ).scalar_one()
        voided = conn.execute(
            sa.select(db.vouchers.c.voided_ms).where(db.vouchers.c.code == reward.voucher)
        ).scalar_one()
    assert stock == 50 and voided is not None
    with pytest.raises(TapcardError), seeded.hub.transaction() as conn:
        admin.use_voucher(conn, reward.voucher, "test")
    assert _one(seeded, till, refund(str(reward.tx_id))).reason == Reason.NOT_REFUNDABLE
    assert_verified(seeded)


def test_a_used_voucher_is_not_refunded(seeded: Seeded, till: tuple[Device, StaffBadge]) -> None:
    credit(seeded.hub, seeded.members[0], Asset.POINTS, 1_000)
    reward = _one(seeded, till, m.Redeem(item="PARK-HOUR", units=2))
    with seeded.hub.transaction() as conn:
        admin.use_voucher(conn, reward.voucher, "test")
    assert _one(seeded, till, refund(str(reward.tx_id))).reason == Reason.VOUCHER_USED


def test_older_sales_without_a_recorded_tier_are_priced_by_their_net(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(10_000, 5_000))
    with seeded.hub.transaction() as conn:
        t = db.transfers
        detail = conn.execute(sa.select(t.c.detail).where(t.c.tx_id == str(sale.tx_id))).scalar()
        old = msgspec.json.decode(str(detail))
        assert old.pop("tier") == "regular"
        conn.execute(
            t.update()
            .where(t.c.tx_id == str(sale.tx_id))
            .values(detail=msgspec.json.encode(old).decode())
        )
    back = _one(seeded, till, refund(str(sale.tx_id), (1, 1)))
    assert back.accepted and back.net_cents == 4_500


def test_the_counter_looks_a_sale_up_with_what_is_left_to_refund(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(10_000, 5_000, receipt_no="R-7"))
    assert _one(seeded, till, refund("R-7", (1, 1))).accepted
    badge = till[1]

    def ask(ref: str) -> sm.StaffReply:
        op = sm.SaleLookup(ref=ref)
        request = sm.StaffRequest(
            device=seeded.device_id, staff="ann", session=badge.session, op=op
        )
        return staff.handle(seeded.hub, request, "shop-1")

    reply = ask("R-7")
    assert reply.error == "" and reply.sale is not None
    view = reply.sale
    assert (view.tx_id, view.kind, view.member_name_masked) == (
        str(sale.tx_id),
        "purchase",
        "L****i",
    )
    assert [(x.line_no, x.quantity, x.refunded) for x in view.lines] == [(0, 1, 0), (1, 1, 1)]
    assert view.net_cents == sale.net_cents and view.refundable
    assert view.refunded_cents == 4_500
    assert ask(f"{sale.seq}/{str(sale.tx_id)[:8]}").sale == view
    assert ask("R-NOTHING").error == "not_found"


def test_growth_taken_back_counts_against_this_periods_growth(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    """The tier review reads period growth: a refunded sale no longer counts towards it."""

    def period_growth() -> int:
        with seeded.hub.engine.connect() as conn:
            value = conn.execute(
                sa.select(db.members.c.period_growth).where(db.members.c.id == seeded.members[0])
            ).scalar_one()
        return int(value)

    sale = _one(seeded, till, purchase(10_000, 5_000))
    assert period_growth() == sale.points_earned
    assert _one(seeded, till, refund(str(sale.tx_id), (0, 1))).accepted
    assert period_growth() == sale.points_earned - 90


def test_a_voucher_used_while_its_refund_is_booked_is_an_exception(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    """The car park accepted the voucher after the refund read it unused: the refund is
    booked (its points are back) and HQ sees that the voucher was used too."""
    credit(seeded.hub, seeded.members[0], Asset.POINTS, 1_000)
    reward = _one(seeded, till, m.Redeem(item="PARK-HOUR", units=2))
    with seeded.hub.transaction() as conn:
        book = RefundBook.load(conn, [str(reward.tx_id)], seeded.hub.rules.get)
    tx = "019eb01d-0000-7000-8000-000000000001"
    book.voids[tx] = reward.voucher
    book.refunds[tx] = {
        "tx_id": tx, "sale_tx_id": str(reward.tx_id), "sale_kind": "redeem",
        "member_id": seeded.members[0], "branch_id": None, "actor": "", "reason": "test",
        "payment": "", "cents": 0, "points": 200, "growth": 0, "points_shortfall": 0,
        "created_ms": 0,
    }  # fmt: skip
    book.lines[tx] = []
    transfer = {"tx_id": tx, "branch_id": "shop-1", "actor": "ann", "created_ms": 1,
                "device_id": seeded.device_id, "card_id": seeded.cards[0]}  # fmt: skip
    with seeded.hub.transaction() as conn:
        admin.use_voucher(conn, reward.voucher, "car park")
        book.write(conn, [transfer], 2)
    with seeded.hub.engine.connect() as conn:
        kinds = conn.execute(
            sa.select(db.exceptions.c.kind, db.exceptions.c.amount).where(
                db.exceptions.c.tx_id == tx
            )
        ).all()
    assert [tuple(k) for k in kinds] == [("refund_voucher_used", 200)]


def test_a_refund_in_the_same_batch_as_its_sale_finds_it(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    """An offline counter sold, refunded part of it, and flushed both in one batch."""
    device, badge = till
    card = seeded.cards[0]
    sale_in = device.incoming(card, purchase(10_000, 5_000, receipt_no="R-9"), staff=badge)
    by_id = device.incoming(card, refund(sale_in.tx, (1, 1)), staff=badge)
    by_receipt = device.incoming(card, refund("R-9", (0, 1)), staff=badge)
    again = device.incoming(card, refund("R-9"), staff=badge)
    batch = [sale_in, by_id, by_receipt, again]
    sale, first, second, third = seeded.hub.ledger.apply_batch(batch)
    assert sale.accepted and first.accepted and second.accepted, (first, second)
    assert first.net_cents + second.net_cents == sale.net_cents
    assert (third.accepted, third.reason) == (False, Reason.NOT_REFUNDABLE)
    assert balances(seeded) == {"cents": 0, "points": 0, "growth": 0}
    # The same batch again answers the same, books nothing more.
    assert seeded.hub.ledger.apply_batch(batch) == [sale, first, second, third]
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.refunds.c.cents)).scalars().all()
    assert sorted(rows) == sorted([first.net_cents, second.net_cents])
    assert_verified(seeded)


def test_a_refund_at_hq_nets_against_the_sales_branch(
    seeded: Seeded, till: tuple[Device, StaffBadge]
) -> None:
    sale = _one(seeded, till, purchase(10_000, 5_000, receipt_no="R-7"))
    with seeded.hub.transaction() as conn:
        done = book_refund(conn, seeded.hub.rules, refund("R-7", (1, 1)), "hq:amy")
    assert done.booked and done.money_cents == 4_500
    with seeded.hub.engine.connect() as conn:
        net = {row["branch"]: row["net_cents"] for row in turnover(conn)}
        by = [(row["branch"], row["refunded_cents"]) for row in refunds_by(conn)]
        branch = conn.execute(
            sa.select(db.transfers.c.branch_id).where(db.transfers.c.tx_id == done.tx_id)
        ).scalar_one()
    assert branch == "shop-1"
    assert net == {"shop-1": sale.net_cents - 4_500}
    assert by == [("shop-1", 4_500)]
    assert_verified(seeded)
