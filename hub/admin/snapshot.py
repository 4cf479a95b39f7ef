"""The read model devices ask for: a card's snapshot (state, masked name, balances)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub import campaign_book, clones, db
from hub.point_buckets import member_buckets
from tapcard.domain import engine as rules_engine
from tapcard.domain import expiry
from tapcard.domain.model import Asset, effective_card_state, mask_name
from tapcard.domain.rules import RuleSet
from tapcard.wire.codes import Reason
from tapcard.wire.messages import Balances, Snapshot, SnapshotQuery


def answer_query(
    reader: Engine, writer: Engine, query: SnapshotQuery, rules: RuleSet | None
) -> Snapshot:
    """A device's snapshot query: the card's snapshot, and a suspected-clone alert when
    the device read the card from a chip other than the issued one.

    Read on `reader`; only a mismatch opens a write transaction, so that the query a
    device makes on every tap never takes SQLite's write lock.
    """
    with reader.connect() as conn:
        snapshot = card_snapshot(conn, query.card_id, rules)
        issued = ""
        if snapshot.found and query.segments:  # a device that reads them (older ones refuse)
            snapshot = campaign_book.with_targeting(conn, snapshot, rules)
        if snapshot.found and query.uid:
            found = conn.execute(sa.select(db.cards.c.uid).where(db.cards.c.id == query.card_id))
            issued = found.scalar_one() or ""
    if issued and issued.lower() != query.uid.lower():
        with writer.begin() as conn:
            clones.note_seen_uid(conn, query.card_id, issued, query.uid, query.device)
    return snapshot


def card_snapshot(conn: Connection, card_id: str, rules: RuleSet | None) -> Snapshot:
    """What a device shows for a card: state, masked name, tier, balances, expiry."""
    row = conn.execute(
        sa.select(
            db.cards,
            db.members.c.name,
            db.members.c.tier,
            db.members.c.state.label("m_state"),
            db.members.c.joined_on,
            db.members.c.birthday,
            db.members.c.id_number_hash,
            db.members.c.program,
        )
        .join(db.members, db.members.c.id == db.cards.c.member_id)
        .where(db.cards.c.id == card_id)
    ).first()
    if row is None:
        unknown = Reason.UNKNOWN_CARD
        return Snapshot(card_id=card_id, found=False, reason=unknown, as_of_ms=db.now_ms(conn))
    balances = dict(
        conn.execute(
            sa.select(db.accounts.c.asset, db.accounts.c.balance).where(
                db.accounts.c.member_id == row.member_id
            )
        ).all()
    )
    # The one card-state rule (expired past its date, terminated with its member); a
    # state this version does not know is shown as stored.
    known = effective_card_state(row.state, row.expires_on, db.today_at(conn), row.m_state)
    state = known.value if known is not None else row.state
    growth = int(balances.get(Asset.GROWTH.value, 0))
    # The card's "N points expire on D": the next points due from today on.
    due, due_on = expiry.next_expiry(
        int(balances.get(Asset.POINTS.value, 0)),
        member_buckets(conn, row.member_id),
        db.today_at(conn),
    )
    upcoming = (
        rules_engine.next_tier(rules, row.tier)
        if rules and row.tier in {t.name for t in rules.tiers}
        else None
    )
    return Snapshot(
        card_id=card_id,
        found=True,
        state=state,
        kind=row.kind,
        program=row.program or "",
        member_name_masked=mask_name(row.name)[:64],
        tier=row.tier,
        next_tier=upcoming.name if upcoming else "",
        growth_to_next=max(0, upcoming.growth_points_min - growth) if upcoming else 0,
        balances=Balances(
            points=int(balances.get(Asset.POINTS.value, 0)),
            growth=growth,
            stored_value_cents=int(balances.get(Asset.CENTS.value, 0)),
        ),
        expires_on=row.expires_on,
        as_of_ms=db.now_ms(conn),
        joined_on=row.joined_on,
        birthday_md=row.birthday.strftime("%m-%d") if row.birthday else "",
        real_name=bool(row.id_number_hash),
        points_expiring=due,
        points_expire_on=due_on,
    )
