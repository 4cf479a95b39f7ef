"""The daily job: tiers kept or dropped at period end, termination after inactivity,
cards expiring, on SQLite and PostgreSQL.

Scenario: Li reached gold by growth points. At the end of her validity period her
period's growth points keep only silver, so she drops to silver and a new period starts;
running the job again the same day changes nothing. Ana has not been seen for more
than the inactivity limit: she is terminated and her card is refused everywhere.
A card past its validity date turns expired.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from hub import admin, db
from hub.maintenance import run_maintenance
from tapcard.domain import engine
from tests.conftest import Seeded


def _set_member(seeded: Seeded, member_id: int, **values: object) -> None:
    with seeded.hub.transaction() as conn:
        conn.execute(db.members.update().where(db.members.c.id == member_id).values(**values))


def test_tier_review_termination_and_expiry(seeded: Seeded) -> None:
    rules = seeded.hub.rules.latest()
    today = dt.date(2026, 11, 26)
    gold, silver = rules.tier("gold"), rules.tier("silver")
    period_start = engine.add_months(today, -rules.card_validity_months)
    li, ana = seeded.members
    _set_member(
        seeded,
        li,
        tier="gold",
        period_start=period_start,
        period_growth=silver.keep_growth_points_min,
        last_activity_on=today,
    )
    _set_member(seeded, ana, last_activity_on=engine.add_months(today, -rules.inactivity_months))
    with seeded.hub.transaction() as conn:
        conn.execute(
            db.cards.update()
            .where(db.cards.c.id == seeded.cards[0])
            .values(expires_on=today - dt.timedelta(days=1))
        )
        report = run_maintenance(conn, rules, today)
    assert gold.keep_growth_points_min > silver.keep_growth_points_min
    assert report.downgraded == [(li, "gold", "silver")]
    assert report.terminated == [ana]
    assert report.expired_cards == [seeded.cards[0]]
    with seeded.hub.engine.connect() as conn:
        li_view = admin.member_view(conn, li)
        _, denied = admin.denylist_cards(conn)
        states = dict(conn.execute(sa.select(db.cards.c.id, db.cards.c.state)).all())
    assert (li_view["tier"], li_view["period_start"], li_view["period_growth"]) == (
        "silver",
        today,
        0,
    )
    assert states == {seeded.cards[0]: "expired", seeded.cards[1]: "terminated"}
    assert denied == [seeded.cards[1]]
    with seeded.hub.transaction() as conn:
        again = run_maintenance(conn, rules, today)
    assert (again.downgraded, again.terminated, again.expired_cards) == ([], [], [])


def test_enough_growth_keeps_the_tier(seeded: Seeded) -> None:
    rules = seeded.hub.rules.latest()
    today = dt.date(2026, 11, 26)
    gold = rules.tier("gold")
    _set_member(
        seeded,
        seeded.members[0],
        tier="gold",
        period_start=engine.add_months(today, -rules.card_validity_months),
        period_growth=gold.keep_growth_points_min,
        last_activity_on=today,
    )
    with seeded.hub.transaction() as conn:
        report = run_maintenance(conn, rules, today)
        tier = conn.execute(
            sa.select(db.members.c.tier).where(db.members.c.id == seeded.members[0])
        ).scalar()
    assert report.downgraded == [] and report.kept >= 1 and tier == "gold"
