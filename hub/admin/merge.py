"""Two members who are the same person become one: HQ merges the source into the target.

What the source holds moves in one database transaction: its balances (points, growth,
stored value) as ONE transfer of kind `merge` whose legs go from the source's accounts
to the target's, its cards, tags and unused vouchers, its points expiry buckets where
the hub keeps them, and its ID number when the target has none. The source is left
`merged` with `merged_into` set, so it can no longer be used, edited, issued a card or
merged again; it keeps its phone key (and its ID key unless the target took the ID), so
registering that phone again finds the target instead. The merge is audited.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from hub import db
from hub.admin.audit import audit
from hub.admin.booking import REASON_LEN_MIN
from hub.admin.card_accounts import move_card_accounts
from hub.admin.members import member_view, require_member
from hub.member_state import MemberState, load_members
from hub.posting import Journal, Transfer
from tapcard.domain.ledger import Leg, member_account
from tapcard.domain.model import Asset, MemberStatus, TxKind
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, ValidationError
from tapcard.wire.ids import new_tx_id

POINT_BUCKETS_TABLE = "point_buckets"  # points expiry (migration 0010), when present


def _check(source: Row[Any], target: Row[Any]) -> None:
    if source.id == target.id:
        raise ValidationError("a member cannot be merged into itself")
    if source.state == MemberStatus.MERGED:
        raise ConflictError(f"member {source.id} was already merged into {source.merged_into}")
    if target.state != MemberStatus.ACTIVE:
        raise ConflictError(f"member {target.id} is {target.state}: merge into an active member")
    for row in (source, target):  # a card account's points never combine with others
        if row._mapping.get("person_id") is not None:
            raise ConflictError(
                f"member {row.id} is the card account of member {row.person_id}: its points"
                " stay apart; merge the people"
            )


def merge_preview(conn: Connection, from_id: int, into_id: int) -> dict[str, Any]:
    """Both members and what would move (the dashboard's confirmation), or the refusal."""
    _check(require_member(conn, from_id), require_member(conn, into_id))
    source, target = member_view(conn, from_id), member_view(conn, into_id)
    return {
        "source": source,
        "target": target,
        "balances": {a: b for a, b in source["balances"].items() if b},
        "cards": [card["id"] for card in source["cards"]],
        "tags": [tag for tag in source["tags"] if tag not in target["tags"]],
    }


def merge_legs(source: MemberState, target: MemberState) -> list[Leg]:
    """Each of the source's non-zero balances, moved whole to the same asset's account
    of the target (a negative one too: the debt goes where the person now is)."""
    legs = []
    for asset in Asset:
        amount = source.balance(asset)
        src, dst = member_account(source.id, asset), member_account(target.id, asset)
        if amount > 0:
            legs += [Leg(src, asset, debit=amount), Leg(dst, asset, credit=amount)]
        elif amount < 0:
            legs += [Leg(src, asset, credit=-amount), Leg(dst, asset, debit=-amount)]
    return legs


def _membership(source: MemberState, target: MemberState, rules: RuleSet) -> None:
    """The growth of this period and the higher tier and activity go with the balances."""
    order = [tier.name for tier in rules.tiers]
    if source.tier in order and target.tier in order:
        target.tier = max(source.tier, target.tier, key=order.index)
    target.period_growth += source.period_growth
    target.last_activity_on = max(source.last_activity_on, target.last_activity_on)
    source.period_growth = 0
    source.changed = target.changed = True


def merge_members(
    conn: Connection, from_id: int, into_id: int, reason: str, actor: str, rules: RuleSet
) -> dict[str, Any]:
    """Merge member `from_id` into `into_id`; returns what moved (as audited)."""
    if len(reason.strip()) < REASON_LEN_MIN:
        raise ValidationError("a merge needs a reason")
    states = load_members(conn, sorted({from_id, into_id}), lock=True)
    source_row, target_row = require_member(conn, from_id), require_member(conn, into_id)
    _check(source_row, target_row)
    source, target = states[from_id], states[into_id]
    legs = merge_legs(source, target)
    moved = {asset.value: source.balance(asset) for asset in Asset if source.balance(asset)}
    stamp = db.now_ms(conn)
    transfer = Transfer(
        tx_id=str(new_tx_id(stamp)),
        kind=TxKind.MERGE,
        member_id=into_id,
        rules_version=rules.version,
        created_ms=stamp,
        applied_ms=stamp,
        actor=actor,
        reason=reason.strip(),
        detail=msgspec.json.encode({"merged_from": from_id, "moved": moved}).decode(),
    )
    journal = Journal()
    journal.post(transfer, legs, target, counterpart=source)
    _membership(source, target, rules)
    journal.insert(conn)
    journal.settle(conn, [target, source])
    summary = {
        "tx_id": transfer.tx_id,
        "from": from_id,
        "into": into_id,
        "balances": moved,
        **_move_holdings(conn, source_row, target_row),
        # The source's category and co-branded cards follow, each keeping its own account.
        "card_accounts": move_card_accounts(conn, from_id, into_id),
    }
    audit(conn, actor, "member.merge", str(from_id), {**summary, "reason": reason.strip()})
    return summary


def _move_holdings(conn: Connection, source: Row[Any], target: Row[Any]) -> dict[str, Any]:
    """Cards, tags, unused vouchers, expiry buckets; then the source is closed."""
    cards = list(
        conn.execute(
            sa.select(db.cards.c.id)
            .where(db.cards.c.member_id == source.id)
            .order_by(db.cards.c.id)
        ).scalars()
    )
    conn.execute(
        db.cards.update().where(db.cards.c.member_id == source.id).values(member_id=target.id)
    )
    t = db.member_tags
    theirs = set(conn.execute(sa.select(t.c.tag).where(t.c.member_id == target.id)).scalars())
    tags = sorted(set(conn.execute(sa.select(t.c.tag).where(t.c.member_id == source.id)).scalars()))
    conn.execute(t.delete().where(t.c.member_id == source.id))
    for tag in [tag for tag in tags if tag not in theirs]:
        conn.execute(t.insert().values(member_id=target.id, tag=tag))
    v = db.vouchers
    conn.execute(
        v.update()
        .where(v.c.member_id == source.id, v.c.used_ms.is_(None))
        .values(member_id=target.id)
    )
    buckets = db.metadata.tables.get(POINT_BUCKETS_TABLE)
    if buckets is not None:
        _move_buckets(conn, buckets, int(source.id), int(target.id))
    _close_source(conn, source, target)
    return {"cards": cards, "tags": tags, "point_buckets": buckets is not None}


def _move_buckets(conn: Connection, buckets: sa.Table, source: int, target: int) -> None:
    """The source's points expiry buckets join the target's: a day both have is added
    up (so a bucket keyed by member and day never collides), the rest change hands."""
    b = buckets.c
    theirs = {
        row.expires_on: row.points
        for row in conn.execute(sa.select(b.expires_on, b.points).where(b.member_id == target))
    }
    rows = conn.execute(sa.select(b.expires_on, b.points).where(b.member_id == source)).all()
    for row in rows:
        if row.expires_on in theirs:
            conn.execute(
                buckets.update()
                .where(b.member_id == target, b.expires_on == row.expires_on)
                .values(points=b.points + row.points)
            )
            conn.execute(
                buckets.delete().where(b.member_id == source, b.expires_on == row.expires_on)
            )
    conn.execute(buckets.update().where(b.member_id == source).values(member_id=target))


def _close_source(conn: Connection, source: Row[Any], target: Row[Any]) -> None:
    m = db.members
    if source.id_number_hash and not target.id_number_hash:  # the target keeps the ID
        conn.execute(m.update().where(m.c.id == source.id).values(id_number_key=None))
        conn.execute(
            m.update()
            .where(m.c.id == target.id)
            .values(
                id_number_hash=source.id_number_hash,
                id_number_masked=source.id_number_masked,
                id_number_key=source.id_number_key,
            )
        )
    conn.execute(
        m.update()
        .where(m.c.id == source.id)
        .values(state=MemberStatus.MERGED.value, merged_into=target.id)
    )
