"""Refunds under any sequence of sales, partial refunds, redemptions and replays.

Property: whatever a counter does (sell some lines, refund some of them or the rest,
redeem a reward and give it back, send any refund again), the refunded quantities of a
line never exceed what was sold, the money given back never exceeds what was paid, the
member's points never go below zero (a shortfall is an exception, never a negative
balance), a replay answers as before and books nothing, and `verify` stays clean.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub import admin, db
from hub.config import HubConfig
from hub.ledger import Incoming
from hub.verify import verify_ledger
from tapcard.device.intents import StaffBadge
from tapcard.domain.model import Asset, Payment
from tapcard.wire import messages as m
from tests.conftest import Seeded, credit, seed_hub
from tests.hub.support import Device, purchase, staff_on_duty

SALE = st.tuples(
    st.just("sale"),
    st.lists(st.integers(100, 30_000), min_size=1, max_size=4),
    st.sampled_from([Payment.CASH, Payment.STORED_VALUE]),
)
REFUND = st.tuples(
    st.just("refund"),
    st.integers(0, 7),  # which earlier sale (modulo how many there are)
    st.lists(st.tuples(st.integers(0, 4), st.integers(1, 2)), max_size=2),  # [] = the rest
)
REDEEM = st.tuples(st.just("redeem"), st.integers(1, 3), st.just(None))
REPLAY = st.tuples(st.just("replay"), st.integers(0, 7), st.just(None))
ACCEPTED: list[str] = []  # refunds booked over all examples: the property was exercised
ACTIONS = st.lists(st.one_of(SALE, REFUND, REDEEM, REPLAY), min_size=1, max_size=12)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Seeded, StaffBadge]]:
    path: Path = tmp_path_factory.mktemp("refund-properties")
    url, server = f"sqlite:///{path / 'hub.sqlite3'}", None
    name = f"tapcard_test_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        with server.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = server.url.set(database=name).render_as_string(hide_password=False)
    seeded = seed_hub(HubConfig(path / "hub", url, None))
    credit(seeded.hub, seeded.members[0], Asset.CENTS, 100_000_000)
    badge = staff_on_duty(seeded.hub, seeded.device_id, "ann")
    yield seeded, badge
    seeded.hub.close()
    if server is not None:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _apply(seeded: Seeded, incoming: Incoming) -> m.TxResult:
    [result] = seeded.hub.ledger.apply_batch([incoming])
    return result


def _check(seeded: Seeded) -> None:
    with seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []
        rl, sl, r, t = db.refund_lines, db.sale_lines, db.refunds, db.transfers
        sold = {(x.tx_id, x.line_no): x.quantity for x in conn.execute(sa.select(sl))}
        back = conn.execute(
            sa.select(rl.c.sale_tx_id, rl.c.line_no, sa.func.sum(rl.c.quantity))
            .join(t, t.c.tx_id == rl.c.sale_tx_id)
            .where(t.c.kind == "purchase")
            .group_by(rl.c.sale_tx_id, rl.c.line_no)
        ).all()
        assert all(int(q) <= sold[(tx, n)] for tx, n, q in back)
        paid = {
            x.tx_id: int(msgspec.json.decode(x.detail).get("net_cents", 0))
            for x in conn.execute(sa.select(t.c.tx_id, t.c.detail).where(t.c.kind == "purchase"))
        }
        given_back = sa.select(r.c.sale_tx_id, sa.func.sum(r.c.cents)).group_by(r.c.sale_tx_id)
        assert all(int(c) <= paid.get(tx, 0) for tx, c in conn.execute(given_back))
        view = admin.member_view(conn, seeded.members[0])
    assert view["balances"]["points"] >= 0


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
@example(
    actions=[("sale", [1_000, 2_000], Payment.CASH), ("refund", 0, [(1, 1)]), ("replay", 0, None)]
)
@example(actions=[("sale", [5_000], Payment.STORED_VALUE), ("refund", 0, []), ("refund", 0, [])])
def test_refunds_never_exceed_the_sale_and_replays_change_nothing(
    shop: tuple[Seeded, StaffBadge], actions: list[tuple[str, object, object]]
) -> None:
    seeded, badge = shop
    device = Device(seeded.device_id, seeded.device_key)
    device.seq = _seq_max(seeded)
    card = seeded.cards[0]
    sales: list[str] = []
    sent: list[tuple[Incoming, m.TxResult]] = []
    for kind, a, b in actions:
        if kind == "sale":
            assert isinstance(a, list) and isinstance(b, Payment)
            result = _apply(seeded, device.incoming(card, purchase(*a, pay=b), staff=badge))
            assert result.accepted, result.message
            sales.append(str(result.tx_id))
        elif kind == "redeem":
            assert isinstance(a, int)
            result = _apply(seeded, device.incoming(card, m.Redeem(item="PARK-HOUR", units=a)))
            if result.accepted:
                sales.append(str(result.tx_id))
        elif kind == "refund" and sales:
            assert isinstance(a, int) and isinstance(b, list)
            lines = [m.RefundLine(line_no=n, quantity=q) for n, q in b]
            op = m.Refund(ref=sales[a % len(sales)], lines=lines, reason="property")
            incoming = device.incoming(card, op, staff=badge)
            sent.append((incoming, _apply(seeded, incoming)))
            if sent[-1][1].accepted:
                ACCEPTED.append(str(incoming.intent.tx_id))
        elif kind == "replay" and sent:
            assert isinstance(a, int)
            incoming, first = sent[a % len(sent)]
            before = _counts(seeded)
            assert _apply(seeded, incoming) == first
            assert _counts(seeded) == before
        _check(seeded)


def _counts(seeded: Seeded) -> tuple[int, ...]:
    with seeded.hub.engine.connect() as conn:
        return tuple(
            int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in (db.transfers, db.legs, db.refunds, db.refund_lines, db.exceptions)
        )


def _seq_max(seeded: Seeded) -> int:
    with seeded.hub.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.max(db.results.c.seq)).where(
                    db.results.c.device_id == seeded.device_id
                )
            ).scalar()
            or 0
        )


def test_the_property_booked_refunds() -> None:
    """Runs after the property (file order): it booked refunds (the explicit examples
    at least: one each on every database)."""
    assert len(ACCEPTED) >= 2
