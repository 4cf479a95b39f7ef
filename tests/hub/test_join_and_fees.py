"""The supplementary card's annual fee, and joining by spend, on SQLite and PostgreSQL.

Scenario (sample fees: joining ¥20, annual ¥50, supplementary ¥10; rule set 2 adds
joining by spending ¥100 within 30 days). Li's supplementary card for her son is
charged ¥10 when it is issued, and ¥10 again (not the ¥50 annual fee) when it is
renewed at HQ or by a renewal at the counter; a manager's waiver books nothing and is
audited. Bo joins by spend: no joining fee, the card valid only for the window; he buys
¥60 and ¥50 (net of the new-member discount, over ¥100), so the daily job makes him a
full member with a full card. Cy joins the same way but spends ¥50: the day after the
window his membership has lapsed, his card is expired, and renewing it at the counter
charges the joining fee, after which he is full. Running the job again changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import admin, db
from hub.admin.joining import settle_joins, start_join_by_spend
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.verify import verify_ledger
from hub.voucher_schema import JoinState
from tapcard.clock import ManualClock
from tapcard.domain import engine
from tapcard.domain.ledger import system_account
from tapcard.domain.model import (
    CardKind,
    CardState,
    Payment,
    SystemAccount,
    effective_card_state,
)
from tapcard.errors import ValidationError
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.clock import pinned_now_ms
from tests.hub.support import Device, purchase

DAY_MS = 86_400_000
FEES = system_account(SystemAccount.FEES)


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    clock = ManualClock(pinned_now_ms())
    hub = Hub.init(HubConfig(tmp_path / "hub", db_url, None), clock=clock)
    sample = parse_rules(sample_rules_bytes())
    joining = dataclasses.replace(sample, version=2, join_spend_cents=10_000, join_spend_days=30)
    with hub.transaction() as conn:
        store_rules(conn, sample, "test")
        store_rules(conn, joining, "test")
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-1", "Shop one", "chain", "test")
    yield hub
    hub.close()


def _member(hub: Hub, name: str, phone: str) -> tuple[int, str]:
    with hub.transaction() as conn:
        new = admin.NewMember(name=name, phone=phone, branch_id="shop-1")
        member = admin.add_member(conn, new, hub.rules.latest(), "", "test")
        return member, admin.issue_card(conn, member, hub.rules.latest(), "test")


def _fees_booked(hub: Hub, card_id: str) -> list[tuple[str, int]]:
    t, lg = db.transfers, db.legs
    with hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.kind, lg.c.credit)
            .select_from(lg.join(t, t.c.tx_id == lg.c.tx_id))
            .where(t.c.card_id == card_id, lg.c.account == FEES)
        ).all()
    return sorted((str(kind), int(cents)) for kind, cents in rows)  # one clock: same ms


def test_supplementary_card_fee_at_issue_and_renewal(hub: Hub) -> None:
    rules = hub.rules.latest()
    li, _ = _member(hub, "Li Wei", "13800000001")
    with hub.transaction() as conn:
        son = admin.issue_card(conn, li, rules, "hq:amy", kind=CardKind.SUPPLEMENTARY)
        waived = admin.issue_card(conn, li, rules, "hq:amy", CardKind.SUPPLEMENTARY, waive_fee=True)
        admin.renew_card(conn, son, rules, "hq:amy")
    assert _fees_booked(hub, son) == [("fee", 1_000), ("renewal", 1_000)]
    assert _fees_booked(hub, waived) == []
    key = new_signing_key()
    with hub.transaction() as conn:
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "t")
        waivers = conn.execute(
            sa.select(db.audit.c.detail).where(
                db.audit.c.action == "fee.waive", db.audit.c.target == waived
            )
        ).all()
    assert len(waivers) == 1 and "supplementary" in str(waivers[0].detail)
    till = Device("till-1", key, rules_version=2)
    [renewed] = hub.ledger.apply_batch([till.incoming(son, m.Renewal(payment=Payment.CASH))])
    assert renewed.accepted and renewed.net_cents == rules.fees.supplementary_cents
    assert _fees_booked(hub, son) == [("fee", 1_000), ("renewal", 1_000), ("renewal", 1_000)]
    with hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


def _buy(hub: Hub, till: Device, card: str, *cents: int) -> None:
    results = hub.ledger.apply_batch([till.incoming(card, purchase(c)) for c in cents])
    assert all(r.accepted for r in results), [r.message for r in results]


def _join(hub: Hub, card: str) -> dt.date:
    with hub.transaction() as conn:
        member = conn.execute(sa.select(db.cards.c.member_id).where(db.cards.c.id == card))
        return start_join_by_spend(conn, member.scalar_one(), card, hub.rules.latest(), "t")


def _card(hub: Hub, card: str) -> sa.Row[tuple[object, ...]]:
    with hub.engine.connect() as conn:
        return conn.execute(sa.select(db.cards).where(db.cards.c.id == card)).one()


def _state(hub: Hub, member: int) -> str:
    with hub.engine.connect() as conn:
        j = db.join_by_spend
        return str(conn.execute(sa.select(j.c.state).where(j.c.member_id == member)).scalar_one())


def test_joining_by_spend_full_or_lapsed(hub: Hub) -> None:
    rules = hub.rules.latest()
    key = new_signing_key()
    with hub.transaction() as conn:
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "t")
        joined_on = db.today_at(conn)
    till = Device("till-1", key, rules_version=2)
    (bo, bo_card), (cy, cy_card) = _member(hub, "Bo", "13800000002"), _member(hub, "Cy", "1380003")
    last_day = _join(hub, bo_card)
    assert last_day == joined_on + dt.timedelta(days=29) == _join(hub, cy_card)
    assert _card(hub, bo_card).expires_on == last_day
    assert _fees_booked(hub, bo_card) == []  # no joining fee
    _buy(hub, till, bo_card, 6_000, 6_000)  # net of the new-member discount: 10,800
    _buy(hub, till, cy_card, 5_000)
    with hub.transaction() as conn:
        first = settle_joins(conn, rules, joined_on)
    assert (first.full, first.lapsed) == ([bo], [])
    assert _card(hub, bo_card).expires_on == engine.card_expires_on(rules, joined_on)
    assert _state(hub, bo) == JoinState.FULL and _state(hub, cy) == JoinState.PROVISIONAL
    assert isinstance(hub.clock, ManualClock)
    hub.clock.advance(30 * DAY_MS)
    with hub.transaction() as conn:
        today = db.today_at(conn)
        lapsed = settle_joins(conn, rules, today)
        again = settle_joins(conn, rules, today)
    assert (lapsed.full, lapsed.lapsed, again.full, again.lapsed) == ([], [cy], [], [])
    card = _card(hub, cy_card)
    assert isinstance(card.expires_on, dt.date)
    expired = effective_card_state(str(card.state), card.expires_on, today)
    assert expired is CardState.EXPIRED
    with hub.transaction() as conn:
        admin.renew_card(conn, cy_card, rules, "staff:ann@till-1")
    assert _fees_booked(hub, cy_card) == [("renewal", rules.fees.joining_cents)]
    assert _state(hub, cy) == JoinState.PAID and _card(hub, cy_card).state == "active"
    with hub.transaction() as conn:
        admin.renew_card(conn, cy_card, rules, "staff:ann@till-1")  # now the annual fee
    assert _fees_booked(hub, cy_card) == sorted(
        [("renewal", rules.fees.joining_cents), ("renewal", rules.fees.annual_cents)]
    )


def test_a_lapsed_joining_renewed_at_the_counter_charges_the_joining_fee(hub: Hub) -> None:
    """Cy's joining by spend lapsed; his counter renews by a device intent: the joining
    fee, not the annual fee, and then he is full (the next renewal is the annual fee)."""
    rules = hub.rules.latest()
    key = new_signing_key()
    with hub.transaction() as conn:
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "t")
    till = Device("till-1", key, rules_version=2)
    cy, cy_card = _member(hub, "Cy", "13800000003")
    _join(hub, cy_card)
    assert isinstance(hub.clock, ManualClock)
    hub.clock.advance(30 * DAY_MS)
    with hub.transaction() as conn:
        assert settle_joins(conn, rules, db.today_at(conn)).lapsed == [cy]
    renewal = m.Renewal(payment=Payment.CASH)
    first, second = hub.ledger.apply_batch([till.incoming(cy_card, renewal) for _ in range(2)])
    assert first.accepted and first.net_cents == rules.fees.joining_cents, first.message
    assert second.accepted and second.net_cents == rules.fees.annual_cents
    assert _fees_booked(hub, cy_card) == sorted(
        [("renewal", rules.fees.joining_cents), ("renewal", rules.fees.annual_cents)]
    )
    assert _state(hub, cy) == JoinState.PAID
    [third] = hub.ledger.apply_batch([till.incoming(cy_card, renewal)])
    assert third.net_cents == rules.fees.annual_cents
    with hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


def test_joining_by_spend_needs_the_rules(hub: Hub) -> None:
    _, card = _member(hub, "Di", "13800000004")
    sample = hub.rules.get(1)
    assert sample is not None
    with (
        pytest.raises(ValidationError, match="offers no joining by spend"),
        hub.transaction() as conn,
    ):
        start_join_by_spend(conn, 1, card, sample, "t")
    with hub.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.join_by_spend)).scalar() == 0
