"""The daily membership job: tier review at period end, termination after inactivity,
expiry of cards past their validity.

Run by `tapcard hub maintain` (and once a day by `serve`). Idempotent: running it twice
on the same day changes nothing the second time. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.joining import JoinReport, settle_joins
from hub.admin.vouchers import ExpiryReport, expire_vouchers
from hub.stored_value import end_membership
from tapcard.domain import engine
from tapcard.domain.model import CardState, MemberStatus
from tapcard.domain.rules import RuleSet

MEMBERS_PER_PASS_MAX = 100_000  # bound one run; the next day's run continues
ACTOR = "maintenance"


@dataclass(slots=True)
class MaintenanceReport:
    downgraded: list[tuple[int, str, str]] = field(default_factory=list)  # member, from, to
    kept: int = 0
    terminated: list[int] = field(default_factory=list)
    expired_cards: list[str] = field(default_factory=list)
    joins: JoinReport = field(default_factory=JoinReport)  # joining by spend settled
    vouchers: ExpiryReport = field(default_factory=ExpiryReport)  # unused vouchers expired


def run_maintenance(conn: Connection, rules: RuleSet, today: dt.date) -> MaintenanceReport:
    report = MaintenanceReport()
    _review_tiers(conn, rules, today, report)
    _terminate_inactive(conn, rules, today, report)
    report.joins = settle_joins(conn, rules, today)  # before expiry: a full member's card
    _expire_cards(conn, today, report)
    report.vouchers = expire_vouchers(conn, rules)
    return report


def _review_tiers(
    conn: Connection, rules: RuleSet, today: dt.date, report: MaintenanceReport
) -> None:
    """At the end of each member's validity period: keep or drop the tier, start a new period."""
    m = db.members
    rows = conn.execute(
        sa.select(m.c.id, m.c.tier, m.c.period_start, m.c.period_growth)
        .where(m.c.state == MemberStatus.ACTIVE.value)
        .order_by(m.c.id)
        .limit(MEMBERS_PER_PASS_MAX)
    ).all()
    tier_names = {t.name for t in rules.tiers}
    for member_id, tier, period_start, period_growth in rows:
        period_end = engine.add_months(period_start, rules.card_validity_months)
        if period_end > today:
            continue
        current = tier if tier in tier_names else rules.tiers[0].name
        new_tier = engine.tier_at_period_end(rules, current, int(period_growth)).name
        conn.execute(
            m.update()
            .where(m.c.id == member_id)
            .values(tier=new_tier, period_start=period_end, period_growth=0)
        )
        if new_tier != tier:
            report.downgraded.append((member_id, tier, new_tier))
            audit(
                conn,
                ACTOR,
                "member.tier",
                str(member_id),
                {"from": tier, "to": new_tier, "period_growth": int(period_growth)},
            )
        else:
            report.kept += 1


def _terminate_inactive(
    conn: Connection, rules: RuleSet, today: dt.date, report: MaintenanceReport
) -> None:
    m = db.members
    rows = conn.execute(
        sa.select(m.c.id, m.c.last_activity_on)
        .where(m.c.state == MemberStatus.ACTIVE.value)
        .order_by(m.c.id)
        .limit(MEMBERS_PER_PASS_MAX)
    ).all()
    for member_id, last_activity_on in rows:
        if not engine.is_inactive(rules, last_activity_on, today):
            continue
        # The stored value left goes to the unclaimed account HQ settles (never stranded).
        ended = end_membership(conn, member_id, ACTOR, "inactive", rules)
        report.terminated.append(member_id)
        audit(
            conn,
            ACTOR,
            "member.terminate",
            str(member_id),
            {
                "last_activity_on": last_activity_on.isoformat(),
                "cards": ended.cards,
                "unclaimed_cents": ended.unclaimed_cents,
            },
        )


def _expire_cards(conn: Connection, today: dt.date, report: MaintenanceReport) -> None:
    c = db.cards
    expired = (
        conn.execute(
            sa.select(c.c.id).where(c.c.state == CardState.ACTIVE.value, c.c.expires_on < today)
        )
        .scalars()
        .all()
    )
    if expired:
        conn.execute(
            c.update()
            .where(c.c.id.in_(expired))
            .values(state=CardState.EXPIRED.value, state_ms=db.now_ms(conn))
        )
        audit(conn, ACTOR, "card.expire", f"{len(expired)} cards", {"cards": expired[:100]})
    report.expired_cards = list(expired)
