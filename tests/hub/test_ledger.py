"""The ledger applies each signed intent exactly once, on SQLite and on PostgreSQL.

Scenario: a shop with the sample rules and two members. The kiosk sends purchases,
top-ups, spends, redemptions, backfills, fees and renewals; some are sent again, some
reuse ids, some are for lost or expired cards or beyond the balance. Afterwards the
balances are exactly what the rules say and `verify` proves the journal.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from hub import admin, db
from hub.verify import verify_ledger
from tapcard.clock import ManualClock
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Asset, CardKind, FeeKind, Payment
from tapcard.errors import ConflictError
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.clock import pinned_today
from tests.conftest import Seeded, credit
from tests.hub.support import Device, ms_of, purchase, to_incoming

TODAY = pinned_today()


@pytest.fixture
def device(seeded: Seeded) -> Device:
    return Device(seeded.device_id, seeded.device_key)


def balances(seeded: Seeded, member_id: int) -> dict[str, int]:
    with seeded.hub.engine.connect() as conn:
        return admin.member_view(conn, member_id)["balances"]


def count(seeded: Seeded, table: sa.Table) -> int:
    with seeded.hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def assert_verified(seeded: Seeded) -> None:
    with seeded.hub.engine.connect() as conn:
        report = verify_ledger(conn)
    assert report.errors == []


def test_purchase_books_discount_and_points(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    # New member: 10 % welcome discount, rounded down: 19,999 -> 18,000 paid -> 180 points.
    [result] = seeded.hub.ledger.apply_batch([device.incoming(card, purchase(19_999))])
    assert result.accepted and result.reason == Reason.OK
    assert result.discount_cents == 1_999
    assert result.net_cents == 18_000
    assert result.points_earned == 180
    assert result.balances == m.Balances(points=180, growth=180, stored_value_cents=0)
    assert result.rules_version == 1
    assert balances(seeded, seeded.members[0]) == {"cents": 0, "points": 180, "growth": 180}
    with seeded.hub.engine.connect() as conn:
        stamped = conn.execute(sa.select(db.transfers.c.rules_version)).scalar_one()
    assert stamped == 1
    assert_verified(seeded)


def test_excluded_category_earns_nothing(seeded: Seeded, device: Device) -> None:
    [result] = seeded.hub.ledger.apply_batch(
        [device.incoming(seeded.cards[0], purchase(5_000, category="group_buy"))]
    )
    assert result.accepted and result.points_earned == 0 and result.net_cents == 5_000


def test_same_intent_three_times_applies_once(seeded: Seeded, device: Device) -> None:
    incoming = device.incoming(seeded.cards[0], purchase(10_000))
    first = seeded.hub.ledger.apply_batch([incoming])
    again = seeded.hub.ledger.apply_batch([incoming, incoming])
    assert first[0] == again[0] == again[1]
    assert count(seeded, db.transfers) == 1
    assert balances(seeded, seeded.members[0])["points"] == first[0].points_earned
    assert_verified(seeded)


def test_reused_tx_id_with_other_content_is_refused(seeded: Seeded, device: Device) -> None:
    tx_id = uuid.uuid4()
    original = device.incoming(seeded.cards[0], purchase(10_000), tx_id=tx_id)
    forged = device.incoming(seeded.cards[0], purchase(99_000), tx_id=tx_id)
    [ok] = seeded.hub.ledger.apply_batch([original])
    [refused] = seeded.hub.ledger.apply_batch([forged])
    assert ok.accepted
    assert not refused.accepted and refused.reason == Reason.TX_ID_REUSED
    assert count(seeded, db.transfers) == 1


def test_reused_sequence_number_is_refused(seeded: Seeded, device: Device) -> None:
    first = device.incoming(seeded.cards[0], m.TopUp(amount_cents=1_000))
    device.seq -= 1  # a device that lost its counter
    second = device.incoming(seeded.cards[0], m.TopUp(amount_cents=1_000))
    results = seeded.hub.ledger.apply_batch([first, second])
    assert results[0].accepted
    assert results[1].reason == Reason.SEQ_REUSED
    assert balances(seeded, seeded.members[0])["cents"] == 1_000


def test_topup_and_stored_value_spend(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, m.TopUp(amount_cents=10_000)),
            device.incoming(card, m.Spend(amount_cents=2_500)),
            device.incoming(card, m.Spend(amount_cents=8_000)),  # only 7,500 left
        ]
    )
    assert [r.accepted for r in results] == [True, True, False]
    assert results[2].reason == Reason.INSUFFICIENT_FUNDS
    assert results[1].balances is not None and results[1].balances.stored_value_cents == 7_500
    assert balances(seeded, seeded.members[0])["cents"] == 7_500
    assert_verified(seeded)


def test_purchase_paid_from_stored_value(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    seeded.hub.ledger.apply_batch([device.incoming(card, m.TopUp(amount_cents=5_000))])
    [paid] = seeded.hub.ledger.apply_batch(
        [device.incoming(card, purchase(1_000, pay=Payment.STORED_VALUE))]
    )
    assert paid.accepted and paid.balances is not None
    assert paid.balances.stored_value_cents == 5_000 - paid.net_cents


def test_redemption_issues_voucher_and_refuses_beyond_balance(
    seeded: Seeded, device: Device
) -> None:
    card = seeded.cards[0]
    seeded.hub.ledger.apply_batch([device.incoming(card, purchase(50_000))])  # 450 points
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, m.Redeem(item="PARK-HOUR", units=3)),  # 300 points
            device.incoming(card, m.Redeem(item="WASH-STANDARD")),  # 800: too many
            device.incoming(card, m.Redeem(item="NO-SUCH-THING")),
            device.incoming(card, m.Redeem(item="PARK-HOUR", units=99)),  # above units_max
        ]
    )
    assert results[0].accepted and results[0].points_spent == 300
    assert len(results[0].voucher) == 14
    assert [r.reason for r in results[1:]] == [
        Reason.INSUFFICIENT_POINTS,
        Reason.UNKNOWN_ITEM,
        Reason.INVALID_REQUEST,
    ]
    with seeded.hub.engine.connect() as conn:
        vouchers = conn.execute(sa.select(db.vouchers.c.code, db.vouchers.c.units)).all()
    assert vouchers == [(results[0].voucher, 3)]


def test_prize_stock_runs_out(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    with seeded.hub.transaction() as conn:
        conn.execute(db.stock.update().where(db.stock.c.item == "PRIZE-MUG").values(remaining=1))
    seeded.hub.ledger.apply_batch([device.incoming(card, m.TopUp(amount_cents=1))])
    credit(seeded.hub, seeded.members[0], Asset.POINTS, 5_000)
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, m.Redeem(item="PRIZE-MUG")),
            device.incoming(card, m.Redeem(item="PRIZE-MUG")),
        ]
    )
    assert results[0].accepted
    assert results[1].reason == Reason.OUT_OF_STOCK
    assert balances(seeded, seeded.members[0])["points"] == 5_000 - 1_500


def test_backfill_once_per_receipt_inside_window(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    lines = [SaleLine("grocery", 10_000)]
    recent = TODAY - dt.timedelta(days=10)
    old = TODAY - dt.timedelta(days=31)
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, m.Backfill(receipt_no="R-1", receipt_on=recent, lines=lines)),
            device.incoming(card, m.Backfill(receipt_no="R-1", receipt_on=recent, lines=lines)),
            device.incoming(card, m.Backfill(receipt_no="R-2", receipt_on=old, lines=lines)),
            device.incoming(card, purchase(1_000, receipt_no="R-3")),
            device.incoming(card, m.Backfill(receipt_no="R-3", receipt_on=TODAY, lines=lines)),
        ]
    )
    assert results[0].accepted and results[0].points_earned > 0
    assert [r.reason for r in results[1:]] == [
        Reason.RECEIPT_USED,
        Reason.BACKFILL_WINDOW,
        Reason.OK,
        Reason.RECEIPT_USED,
    ]


def test_lost_card_refused_online_but_booked_as_exception_offline(
    seeded: Seeded, device: Device
) -> None:
    card = seeded.cards[0]
    with seeded.hub.transaction() as conn:
        admin.report_lost(conn, card, "test")
    online, offline = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, purchase(1_000)),
            device.incoming(card, purchase(1_000), offline=True),
        ]
    )
    assert online.reason == Reason.CARD_LOST
    assert offline.accepted and offline.offline_exception
    with seeded.hub.engine.connect() as conn:
        kinds = conn.execute(sa.select(db.exceptions.c.kind)).scalars().all()
    assert kinds == ["offline_card_state"]


def test_offline_overdraw_is_applied_and_recorded(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    [result] = seeded.hub.ledger.apply_batch(
        [device.incoming(card, m.Spend(amount_cents=700), offline=True)]
    )
    assert result.accepted and result.offline_exception
    assert balances(seeded, seeded.members[0])["cents"] == -700
    with seeded.hub.engine.connect() as conn:
        row = conn.execute(sa.select(db.exceptions.c.kind, db.exceptions.c.amount)).one()
        report = verify_ledger(conn)
    assert tuple(row) == ("offline_overdraw", 700)
    assert report.ok and len(report.warnings) == 1


def test_expired_card_refused_until_renewed(seeded: Seeded, device: Device) -> None:
    card = seeded.cards[0]
    with seeded.hub.transaction() as conn:
        conn.execute(
            db.cards.update()
            .where(db.cards.c.id == card)
            .values(expires_on=TODAY - dt.timedelta(days=1))
        )
    refused, renewed, bought = seeded.hub.ledger.apply_batch(
        [
            device.incoming(card, purchase(1_000)),
            device.incoming(card, m.Renewal(payment=Payment.CASH)),
            device.incoming(card, purchase(1_000)),
        ]
    )
    assert refused.reason == Reason.CARD_EXPIRED
    assert renewed.accepted and renewed.net_cents == 5_000  # the annual fee
    assert bought.accepted
    with seeded.hub.engine.connect() as conn:
        expiry = conn.execute(
            sa.select(db.cards.c.expires_on).where(db.cards.c.id == card)
        ).scalar()
    assert expiry == dt.date(TODAY.year + 2, TODAY.month, TODAY.day) or expiry > TODAY


def test_fee_and_unknown_card_and_rules_version(seeded: Seeded, device: Device) -> None:
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(seeded.cards[0], m.Fee(fee=FeeKind.JOINING, payment=Payment.CASH)),
            device.incoming("C999999", purchase(1_000)),
            device.incoming(seeded.cards[0], purchase(1_000), rules_version=42),
        ]
    )
    assert results[0].accepted and results[0].net_cents == 2_000
    assert results[1].reason == Reason.UNKNOWN_CARD
    assert results[2].reason == Reason.UNKNOWN_RULES_VERSION


def test_tier_upgrade_at_once(seeded: Seeded, device: Device) -> None:
    # 10,000 growth points reach silver: 1,111,200 cents at 10 % off is 1,000,080 paid.
    [result] = seeded.hub.ledger.apply_batch(
        [device.incoming(seeded.cards[0], purchase(1_111_200))]
    )
    assert result.accepted and result.tier == "silver"
    with seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, seeded.members[0])["tier"] == "silver"


def test_supplementary_card_daily_limit(seeded: Seeded, device: Device) -> None:
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        extra = admin.issue_card(
            conn,
            seeded.members[0],
            rules,
            "test",
            kind=CardKind.SUPPLEMENTARY,
            daily_cents_max=3_000,
        )
    primary = seeded.cards[0]
    results = seeded.hub.ledger.apply_batch(
        [
            device.incoming(primary, m.TopUp(amount_cents=10_000)),
            device.incoming(extra, m.Spend(amount_cents=2_000)),
            device.incoming(extra, m.Spend(amount_cents=2_000)),  # 4,000 > 3,000 a day
            device.incoming(primary, m.Spend(amount_cents=2_000)),  # the primary has no limit
        ]
    )
    assert [r.reason for r in results] == [Reason.OK, Reason.OK, Reason.LIMIT_EXCEEDED, Reason.OK]
    assert balances(seeded, seeded.members[0])["cents"] == 6_000


def test_replacement_carries_balances_and_revokes_old_card(seeded: Seeded, device: Device) -> None:
    old = seeded.cards[0]
    seeded.hub.ledger.apply_batch([device.incoming(old, m.TopUp(amount_cents=9_000))])
    with seeded.hub.transaction() as conn:
        new = admin.replace_card(
            conn, old, seeded.hub.rules.latest(), "test", fee_paid_by="stored_value"
        )
        version, denied = admin.denylist_cards(conn)
    assert old in denied and version >= 1
    refused, accepted = seeded.hub.ledger.apply_batch(
        [
            device.incoming(old, m.Spend(amount_cents=100)),
            device.incoming(new, m.Spend(amount_cents=100)),
        ]
    )
    assert refused.reason == Reason.CARD_REPLACED
    assert accepted.balances is not None
    assert accepted.balances.stored_value_cents == 9_000 - 1_500 - 100  # replacement fee
    assert_verified(seeded)


def test_reversal_of_fraudulent_points(seeded: Seeded, device: Device) -> None:
    [bought] = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], purchase(20_000))])
    rules = seeded.hub.rules.latest()
    with seeded.hub.transaction() as conn:
        admin.reverse_points(conn, str(bought.tx_id), "supervisor", "stolen card", rules)
    assert balances(seeded, seeded.members[0])["points"] == 0
    with pytest.raises(ConflictError), seeded.hub.transaction() as conn:
        admin.reverse_points(conn, str(bought.tx_id), "supervisor", "again", rules)
    with seeded.hub.engine.connect() as conn:
        trail = conn.execute(
            sa.select(db.audit.c.actor, db.audit.c.action).where(
                db.audit.c.action == "ledger.reverse"
            )
        ).all()
    assert [tuple(t) for t in trail] == [("supervisor", "ledger.reverse")]
    assert_verified(seeded)


def test_database_rejects_bad_legs_itself(seeded: Seeded, device: Device) -> None:
    """Check twice: bypass the domain code and the database still refuses."""
    seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], purchase(1_000))])
    with pytest.raises(sa.exc.DatabaseError), seeded.hub.transaction() as conn:
        conn.execute(db.legs.update().values(credit=db.legs.c.credit + 1))
    with pytest.raises(sa.exc.IntegrityError), seeded.hub.transaction() as conn:
        tx = conn.execute(sa.select(db.transfers.c.tx_id)).scalar_one()
        conn.execute(
            db.legs.insert().values(tx_id=tx, account="s:cash", asset="cents", debit=5, credit=5)
        )
    assert_verified(seeded)


@pytest.mark.postgres
def test_postgres_rejects_unbalanced_transfer_at_commit(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hub.config import HubConfig
    from tests.conftest import seed_hub

    seeded = seed_hub(HubConfig(tmp_path / "hub", pg_url, None))
    device = Device(seeded.device_id, seeded.device_key)
    seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], purchase(1_000))])
    with (
        pytest.raises(sa.exc.IntegrityError, match="does not balance"),
        seeded.hub.transaction() as conn,
    ):
        tx = conn.execute(sa.select(db.transfers.c.tx_id)).scalar_one()
        conn.execute(
            db.legs.insert().values(tx_id=tx, account="s:cash", asset="cents", debit=5, credit=0)
        )
    seeded.hub.close()


def test_verify_finds_tampered_balance(seeded: Seeded, device: Device) -> None:
    seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], purchase(1_000))])
    with seeded.hub.transaction() as conn:
        conn.execute(
            db.accounts.update().where(db.accounts.c.code == "m:1:points").values(balance=999)
        )
        report = verify_ledger(conn)
    assert any("m:1:points holds 999" in e for e in report.errors)


def test_offline_sale_uses_the_day_it_happened(seeded: Seeded, device: Device) -> None:
    """Double points in the December window apply to a sale made then, booked later."""
    december = dt.date(2026, 12, 9)  # a Wednesday: no weekend campaign
    created = ms_of(december)
    incoming = device.incoming(seeded.cards[0], purchase(10_000), created_ms=created, offline=True)
    seeded.hub.ledger.clock = ManualClock(created + 3_600_000)
    [result] = seeded.hub.ledger.apply_batch(
        [to_incoming(device.sealed(seeded.cards[0], purchase(10_000), created_ms=created))]
    )
    assert incoming.intent.offline
    # The member joined on the suite's June day, so December is past the welcome discount.
    assert result.accepted and result.discount_cents == 0
    assert result.points_earned == 2 * (10_000 // 100)


def test_cash_fee_for_a_member_in_offline_overdraw(seeded: Seeded, device: Device) -> None:
    """An earlier offline overdraw does not block an unrelated cash payment at HQ."""
    card = seeded.cards[0]
    seeded.hub.ledger.apply_batch([device.incoming(card, m.Spend(amount_cents=700), offline=True)])
    with seeded.hub.transaction() as conn:
        new_card = admin.replace_card(conn, card, seeded.hub.rules.latest(), "test")
    with seeded.hub.engine.connect() as conn:
        assert admin.member_view(conn, seeded.members[0])["balances"]["cents"] == -700
        assert verify_ledger(conn).ok
    assert new_card != card


def test_deny_list_leaves_out_cards_past_their_validity(seeded: Seeded) -> None:
    """An expired card is refused for its expiry: the list devices hold stays bounded."""
    lost, also_lost = seeded.cards
    with seeded.hub.transaction() as conn:
        admin.report_lost(conn, lost, "test")
        admin.report_lost(conn, also_lost, "test")
        conn.execute(
            db.cards.update()
            .where(db.cards.c.id == lost)
            .values(expires_on=TODAY - dt.timedelta(days=1))
        )
        version, denied = admin.denylist_cards(conn)
    assert version == 2
    assert denied == [also_lost]


def test_verify_counts_each_transfer_on_its_day_at_any_hour(seeded: Seeded, device: Device) -> None:
    """Daily totals and verify agree on the day of a transfer made at any hour: verify
    once took the day as CAST(created_ms / DAY_MS AS INTEGER), which PostgreSQL rounds,
    so every afternoon's transfers looked like the next day's."""
    day = dt.date(2026, 3, 10)
    midnight_ms = ms_of(day) - 12 * 3_600_000
    hours_ms = (0, 11 * 3_600_000 + 3_599_999, 12 * 3_600_000, 86_400_000 - 1)
    results = []
    for i, at_ms in enumerate(hours_ms):  # the hub dates an online intent at its arrival
        seeded.hub.ledger.clock = ManualClock(midnight_ms + at_ms)
        results += seeded.hub.ledger.apply_batch(
            [device.incoming(seeded.cards[0], purchase(1_000 + i), created_ms=0)]
        )
    assert all(r.accepted for r in results)
    with seeded.hub.engine.connect() as conn:
        days = conn.execute(sa.select(db.daily_totals.c.day).distinct()).scalars().all()
    assert days == [(day - dt.date(1970, 1, 1)).days]
    assert_verified(seeded)
