"""Stored value within the rules, on SQLite and PostgreSQL: the caps for members with and
without real name (hub and device), a member leaving with or without a refund, the
daily job's termination, HQ settling what is unclaimed, and the branch report.

Scenario: the sample rules (¥1,000 a card and a top-up without real name, ¥5,000 with),
the seeded shop with two members. Li Wei is registered by real name here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from hub import admin, db, reports
from hub.admin.snapshot import card_snapshot
from hub.maintenance import run_maintenance
from hub.posting import balance
from hub.stored_value import UNCLAIMED, leave, settle, unclaimed_of
from hub.verify import verify_ledger
from tapcard.device import policy
from tapcard.device.store import DayCounters
from tapcard.domain.model import Asset, CardState, MemberStatus, Payment, TxKind
from tapcard.errors import ConflictError, ValidationError
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.clock import pinned_today
from tests.conftest import Seeded, credit
from tests.hub.support import Device, purchase, to_incoming

TODAY = pinned_today()


@pytest.fixture
def device(seeded: Seeded) -> Device:
    with seeded.hub.transaction() as conn:
        real = db.members.c.id == seeded.members[0]
        conn.execute(db.members.update().where(real).values(id_number_hash="checked"))
    return Device(seeded.device_id, seeded.device_key)


def cents(seeded: Seeded, member_id: int) -> int:
    with seeded.hub.engine.connect() as conn:
        return int(admin.member_view(conn, member_id)["balances"]["cents"])


def account(seeded: Seeded, code: str) -> int:
    with seeded.hub.engine.connect() as conn:
        return balance(conn, code)  # a system account's is summed from its daily totals


def transfers(seeded: Seeded, kind: TxKind | None = None) -> int:
    t = db.transfers
    query = sa.select(sa.func.count()).select_from(t)
    if kind is not None:
        query = query.where(t.c.kind == kind.value)
    with seeded.hub.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def assert_verified(seeded: Seeded) -> None:
    with seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


def top_up(seeded: Seeded, device: Device, card: str, amount: int) -> m.TxResult:
    [result] = seeded.hub.ledger.apply_batch([device.incoming(card, m.TopUp(amount_cents=amount))])
    return result


def test_the_caps_depend_on_real_name(seeded: Seeded, device: Device) -> None:
    real, anonymous = seeded.cards
    over_topup = top_up(seeded, device, anonymous, 100_001)
    assert over_topup.reason == Reason.STORED_VALUE_CAP
    assert over_topup.message == "one top-up for a member without real name is at most 100000 cents"
    assert top_up(seeded, device, anonymous, 100_000).accepted
    full = top_up(seeded, device, anonymous, 1)
    assert full.reason == Reason.STORED_VALUE_CAP and "may hold at most 100000" in full.message
    assert top_up(seeded, device, real, 100_001).accepted  # real name: ¥5,000 a top-up
    assert top_up(seeded, device, real, 399_999).accepted  # exactly ¥5,000 on the card
    assert top_up(seeded, device, real, 1).reason == Reason.STORED_VALUE_CAP
    assert cents(seeded, seeded.members[0]) == 500_000
    assert cents(seeded, seeded.members[1]) == 100_000
    assert transfers(seeded, TxKind.TOPUP) == 3  # the refusals booked nothing
    assert_verified(seeded)


def test_the_device_refuses_offline_from_the_hubs_snapshot(seeded: Seeded, device: Device) -> None:
    real, anonymous = seeded.cards
    assert top_up(seeded, device, anonymous, 90_000).accepted
    rules = seeded.hub.rules.latest()
    with seeded.hub.engine.connect() as conn:
        snaps = {card: card_snapshot(conn, card, rules) for card in seeded.cards}
    assert snaps[real].real_name and not snaps[anonymous].real_name
    now_ms = snaps[real].as_of_ms + 60_000

    def offline(card: str, amount: int) -> policy.Verdict:
        return policy.decide(
            rules=rules,
            snapshot=snaps[card],
            online=False,
            denied=(),
            op=m.TopUp(amount_cents=amount),
            card_id=card,
            counters=DayCounters(card_points=0, card_cents=0, device_cents=0),
            now_ms=now_ms,
            today=TODAY,
        )

    beyond = offline(anonymous, 10_001)
    assert not beyond.accepted and beyond.offline and beyond.reason == Reason.STORED_VALUE_CAP
    assert offline(anonymous, 10_000).accepted
    assert offline(real, 200_000).accepted
    # The hub refuses the same intent when it arrives offline, and books nothing.
    late = device.incoming(anonymous, m.TopUp(amount_cents=10_001), offline=True)
    [booked] = seeded.hub.ledger.apply_batch([late])
    assert booked.reason == Reason.STORED_VALUE_CAP
    assert cents(seeded, seeded.members[1]) == 90_000


def test_leave_with_a_cash_refund_pays_out_and_ends_the_membership(
    seeded: Seeded, device: Device
) -> None:
    member, card = seeded.members[1], seeded.cards[1]
    assert top_up(seeded, device, card, 30_000).accepted
    cash_before = account(seeded, "s:cash")
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        ended = leave(
            conn, member, refund="cash", reason="moving away", actor="hq:anna", rules=rules
        )
    assert ended.refunded_cents == 30_000 and ended.unclaimed_cents == 0
    assert ended.cards == [card]
    assert cents(seeded, member) == 0
    assert account(seeded, "s:cash") == cash_before + 30_000  # the mirror image shrinks
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, member)
        actions = conn.execute(
            sa.select(db.audit.c.action).where(db.audit.c.target == str(member))
        ).scalars()
        assert "member.leave" in set(actions)
    assert view["state"] == MemberStatus.TERMINATED.value
    assert view["cards"][0]["state"] == CardState.TERMINATED.value
    with seeded.hub.transaction() as conn, pytest.raises(ConflictError, match="already left"):
        leave(conn, member, refund="cash", reason="again", actor="hq:anna", rules=rules)
    [after] = seeded.hub.ledger.apply_batch([device.incoming(card, m.TopUp(amount_cents=100))])
    assert not after.accepted  # a terminated card takes nothing
    assert transfers(seeded, TxKind.PAYOUT) == 1
    assert_verified(seeded)


def test_a_refund_is_refused_below_zero_and_bad_input_changes_nothing(
    seeded: Seeded, device: Device
) -> None:
    member, card = seeded.members[1], seeded.cards[1]
    overdraw = device.incoming(card, m.Spend(amount_cents=1_500), offline=True)
    [spent] = seeded.hub.ledger.apply_batch([overdraw])
    assert spent.accepted and cents(seeded, member) == -1_500
    rules = seeded.hub.rules.latest()
    before = transfers(seeded)
    with seeded.hub.transaction() as conn, pytest.raises(ConflictError, match="below zero"):
        leave(conn, member, refund="cash", reason="moving away", actor="hq", rules=rules)
    with seeded.hub.transaction() as conn, pytest.raises(ValidationError, match="reason"):
        leave(conn, member, refund=None, reason="", actor="hq", rules=rules)
    with seeded.hub.transaction() as conn, pytest.raises(ValidationError, match="cash"):
        leave(conn, member, refund="stored_value", reason="moving", actor="hq", rules=rules)
    with seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, member)["state"] == MemberStatus.ACTIVE.value
    assert transfers(seeded) == before


def test_leave_without_refund_holds_the_balance_until_hq_settles(
    seeded: Seeded, device: Device
) -> None:
    member, card = seeded.members[1], seeded.cards[1]
    assert top_up(seeded, device, card, 12_345).accepted
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        ended = leave(conn, member, refund=None, reason="left, no refund", actor="hq", rules=rules)
    assert ended.unclaimed_cents == 12_345 and cents(seeded, member) == 0
    assert account(seeded, UNCLAIMED) == 12_345
    with seeded.hub.engine.connect() as conn:
        assert unclaimed_of(conn, member) == 12_345
    cash_before = account(seeded, "s:cash")
    with seeded.hub.transaction() as conn:
        _, paid = settle(conn, member, pay="cash", reason="came back", actor="hq", rules=rules)
    assert paid == 12_345 and account(seeded, UNCLAIMED) == 0
    assert account(seeded, "s:cash") == cash_before + 12_345
    with seeded.hub.transaction() as conn, pytest.raises(ConflictError, match="no unclaimed"):
        settle(conn, member, pay="cash", reason="twice", actor="hq", rules=rules)
    assert_verified(seeded)


def test_inactivity_termination_moves_the_balance_to_unclaimed_once(
    seeded: Seeded, device: Device
) -> None:
    member, card = seeded.members[1], seeded.cards[1]
    assert top_up(seeded, device, card, 7_000).accepted
    assert seeded.hub.ledger.apply_batch([device.incoming(card, purchase(2_000))])[0].accepted
    with seeded.hub.engine.connect() as conn:
        points = int(admin.member_view(conn, member)["balances"]["points"])
    later = TODAY + dt.timedelta(days=3 * 366)
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        last = db.members.c.id == member
        conn.execute(db.members.update().where(last).values(last_activity_on=TODAY))
        report = run_maintenance(conn, rules, later)
    assert member in report.terminated
    assert cents(seeded, member) == 0 and account(seeded, UNCLAIMED) == 7_000
    with seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, member)["balances"]["points"] == points  # left as they are
    with seeded.hub.transaction() as conn:
        run_maintenance(conn, rules, later)
    assert account(seeded, UNCLAIMED) == 7_000 and transfers(seeded, TxKind.UNCLAIMED) == 1
    assert_verified(seeded)


def test_the_branch_report_against_a_hand_computed_example(seeded: Seeded, device: Device) -> None:
    """shop-1: tops up ¥100.00 (Li) and ¥50.00 (Ana); Li pays ¥25.00 there.
    shop-2: Li spends ¥40.00 and buys for ¥10.00 from stored value (10 % new-member
    discount: ¥9.00). HQ: Ana leaves with her ¥50.00 refunded.

    shop-1 net 15,000 - 2,500 = 12,500; shop-2 net 0 - 4,900 = -4,900; HQ -5,000. The
    total 2,600 is Li's balance: 10,000 - 2,500 - 4,000 - 900."""
    li, ana = seeded.cards
    with seeded.hub.transaction() as conn:
        admin.add_branch(conn, "shop-2", "Shop two", "chain", "test")
    top_up(seeded, device, li, 10_000)
    top_up(seeded, device, ana, 5_000)
    seeded.hub.ledger.apply_batch([device.incoming(li, m.Spend(amount_cents=2_500))])
    away = [
        device.sealed(li, m.Spend(amount_cents=4_000)),
        device.sealed(li, purchase(1_000, pay=Payment.STORED_VALUE)),
    ]
    results = seeded.hub.ledger.apply_batch([to_incoming(s, "shop-2") for s in away])
    assert all(r.accepted for r in results) and results[1].net_cents == 900
    with seeded.hub.transaction() as conn:
        rules = seeded.hub.rules.latest()
        leave(conn, seeded.members[1], refund="cash", reason="leaving", actor="hq", rules=rules)
    with seeded.hub.engine.connect() as conn:
        rows = reports.stored_value_by_branch(conn)
        only = reports.stored_value_by_branch(conn, "shop-2")
    assert rows == [
        {"branch": "hq", "topped_up_cents": 0, "spent_cents": 5_000, "net_cents": -5_000},
        {"branch": "shop-1", "topped_up_cents": 15_000, "spent_cents": 2_500, "net_cents": 12_500},
        {"branch": "shop-2", "topped_up_cents": 0, "spent_cents": 4_900, "net_cents": -4_900},
        {"branch": "total", "topped_up_cents": 15_000, "spent_cents": 12_400, "net_cents": 2_600},
    ]
    assert rows[-1]["net_cents"] == cents(seeded, seeded.members[0])
    assert only == [rows[2]]
    [yuan] = reports.in_yuan(only)
    assert yuan == {
        "branch": "shop-2",
        "topped_up_yuan": Decimal("0.00"),
        "spent_yuan": Decimal("49.00"),
        "net_yuan": Decimal("-49.00"),
    }
    assert_verified(seeded)


def test_credit_of_an_adjustment_counts_at_hq(seeded: Seeded, device: Device) -> None:
    credit(seeded.hub, seeded.members[1], Asset.CENTS, 800)
    with seeded.hub.engine.connect() as conn:
        [hq, total] = reports.stored_value_by_branch(conn)
    assert hq == {"branch": "hq", "topped_up_cents": 0, "spent_cents": -800, "net_cents": 800}
    assert total["net_cents"] == 800
