"""Joining by spend (消费达特定金额) instead of by fee: docs/rules.md "Joining".

A member registered with join_by=spend pays no joining fee and is provisional: the card
is valid only until the window's last day (`RuleSet.join_spend_days` from joining). The
daily job settles each provisional membership:

- net purchases (hub side: the sales, discount and refund legs of the member's transfers
  booked within the window, so a refund within the window counts against it) that reach
  `join_spend_cents` make it a full member: the card's expiry becomes a full member's
  (`card_validity_months` from the joining day), and an expired card is active again;
- a window that passed without it lapses: the card has expired on its own (the one card
  state rule, unchanged), and renewing it at the counter charges the joining fee instead
  of the annual fee (`renewal_fee_kind`), after which the member is full.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.voucher_schema import JoinState
from tapcard.domain import engine
from tapcard.domain.authority import business_day_start_ms
from tapcard.domain.ledger import system_account
from tapcard.domain.model import CardKind, CardState, FeeKind, SystemAccount
from tapcard.domain.rules import RuleSet
from tapcard.errors import ValidationError

JOINS_PER_PASS_MAX = 100_000  # bound one run; the next day's run continues
ACTOR = "maintenance"
# The system accounts whose legs are a sale's net: gross, discounts, refunds (if booked).
_NET_SALES_ACCOUNTS = tuple(
    system_account(a) for a in SystemAccount if a.value in ("sales", "discounts", "refunds")
)


class JoinBy:
    FEE = "fee"
    SPEND = "spend"


@dataclass(slots=True)
class JoinReport:
    full: list[int] = field(default_factory=list)  # members who reached the threshold
    lapsed: list[int] = field(default_factory=list)


def window_last_day(rules: RuleSet, joined_on: dt.date) -> dt.date:
    """The last day of the window: join_spend_days days, the joining day the first."""
    return joined_on + dt.timedelta(days=rules.join_spend_days - 1)


def start_join_by_spend(
    conn: Connection, member_id: int, card_id: str, rules: RuleSet, actor: str
) -> dt.date:
    """Make a new member provisional with `card_id` valid until the window's last day;
    returns that day. Refused when the rules offer no joining by spend."""
    if rules.join_spend_cents <= 0 or rules.join_spend_days <= 0:
        raise ValidationError("the rule set offers no joining by spend")
    joined_on = db.today_at(conn)
    last_day = window_last_day(rules, joined_on)
    conn.execute(db.cards.update().where(db.cards.c.id == card_id).values(expires_on=last_day))
    conn.execute(
        db.join_by_spend.insert().values(
            member_id=member_id,
            card_id=card_id,
            joined_on=joined_on,
            last_day=last_day,
            spend_cents_min=rules.join_spend_cents,
            state=JoinState.PROVISIONAL.value,
        )
    )
    detail = {"spend_cents": rules.join_spend_cents, "until": last_day.isoformat()}
    audit(conn, actor, "member.join_by_spend", str(member_id), detail)
    return last_day


def net_spend_cents(conn: Connection, member_id: int, start_ms: int, end_ms: int) -> int:
    """What the member's purchases came to, net of discounts and refunds, in hub time
    [start_ms, end_ms)."""
    t, lg = db.transfers, db.legs
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(lg.c.credit - lg.c.debit), 0))
        .select_from(lg.join(t, t.c.tx_id == lg.c.tx_id))
        .where(
            t.c.member_id == member_id,
            t.c.created_ms >= start_ms,
            t.c.created_ms < end_ms,
            lg.c.account.in_(_NET_SALES_ACCOUNTS),
        )
    ).scalar_one()
    return int(total)


def settle_joins(conn: Connection, rules: RuleSet, today: dt.date) -> JoinReport:
    """Promote provisional members who reached the threshold within their window; lapse
    those whose window ended before `today` without it. Idempotent: only provisional
    rows are looked at, and each ends in one state."""
    j = db.join_by_spend
    rows = conn.execute(
        sa.select(j)
        .where(j.c.state == JoinState.PROVISIONAL.value)
        .order_by(j.c.member_id)
        .limit(JOINS_PER_PASS_MAX)
    ).all()
    report = JoinReport()
    zone = rules.time_zone
    for row in rows:
        start_ms = business_day_start_ms(row.joined_on, zone)
        end_ms = business_day_start_ms(row.last_day + dt.timedelta(days=1), zone)
        spent = net_spend_cents(conn, int(row.member_id), start_ms, end_ms)
        if spent >= int(row.spend_cents_min):
            _make_full(conn, row, rules, spent)
            report.full.append(int(row.member_id))
        elif row.last_day < today:
            _settle(conn, int(row.member_id), JoinState.LAPSED)
            detail = {"spent_cents": spent, "needed_cents": int(row.spend_cents_min)}
            audit(conn, ACTOR, "member.join_lapsed", str(row.member_id), detail)
            report.lapsed.append(int(row.member_id))
    return report


def _make_full(conn: Connection, row: Any, rules: RuleSet, spent: int) -> None:
    c = db.cards
    expiry = engine.card_expires_on(rules, row.joined_on)
    conn.execute(
        c.update()
        .where(
            c.c.id == row.card_id, c.c.state.in_([CardState.ACTIVE.value, CardState.EXPIRED.value])
        )
        .values(expires_on=expiry, state=CardState.ACTIVE.value, state_ms=db.now_ms(conn))
    )
    _settle(conn, int(row.member_id), JoinState.FULL)
    detail = {"spent_cents": spent, "card": row.card_id, "expires_on": expiry.isoformat()}
    audit(conn, ACTOR, "member.join_full", str(row.member_id), detail)


def _settle(conn: Connection, member_id: int, state: JoinState) -> None:
    j = db.join_by_spend
    conn.execute(
        j.update()
        .where(j.c.member_id == member_id)
        .values(state=state.value, settled_ms=db.now_ms(conn))
    )


def renewal_fee_kind(conn: Connection, member_id: int, card_kind: str) -> FeeKind:
    """The fee a renewal of this member's card charges: the joining fee while a joining
    by spend has lapsed unpaid, the supplementary fee for a supplementary card, else the
    annual fee."""
    j = db.join_by_spend
    lapsed = conn.execute(
        sa.select(j.c.member_id).where(
            j.c.member_id == member_id, j.c.state == JoinState.LAPSED.value
        )
    ).first()
    if lapsed is not None:
        return FeeKind.JOINING
    return FeeKind.SUPPLEMENTARY if card_kind == CardKind.SUPPLEMENTARY else FeeKind.ANNUAL


def joining_fee_paid(conn: Connection, member_id: int) -> None:
    """A lapsed joining by spend whose joining fee was paid at renewal: a full member."""
    j = db.join_by_spend
    conn.execute(
        j.update()
        .where(j.c.member_id == member_id, j.c.state == JoinState.LAPSED.value)
        .values(state=JoinState.PAID.value, settled_ms=db.now_ms(conn))
    )
