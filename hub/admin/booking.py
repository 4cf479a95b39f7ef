"""Transfers booked at HQ (fees, replacements, renewals, reversals) through the journal.

They go through the same posting path as the ledger's device intents (hub.posting);
what differs is only the refusal: a balance an HQ transfer would drive below zero is
refused, or, where that is allowed (a fraud reversal), recorded as an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.member_state import MemberState, load_members
from hub.posting import Journal, Transfer
from tapcard.domain.ledger import Leg, reversal_legs, validate_legs
from tapcard.domain.model import Asset, TxKind
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire.ids import new_tx_id

REASON_LEN_MIN = 3


def book_admin(
    conn: Connection,
    kind: TxKind,
    member_id: int,
    legs: Sequence[Leg],
    actor: str,
    reason: str,
    *,
    rules: RuleSet,
    card_id: str | None = None,
    detail: Mapping[str, object] | None = None,
    allow_negative: bool = False,
) -> str:
    """Book a transfer made at HQ (no device, no sequence number); returns its id."""
    errors = validate_legs(legs) if legs else []
    if errors:
        raise ValidationError("; ".join(errors))
    stamp = db.now_ms(conn)
    tx_id = str(new_tx_id(stamp))
    members = load_members(conn, [member_id], lock=True) if legs else {}
    member = members.get(member_id)
    transfer = Transfer(
        tx_id=tx_id,
        kind=kind,
        member_id=member_id,
        rules_version=rules.version,
        created_ms=stamp,
        applied_ms=stamp,
        card_id=card_id,
        actor=actor,
        reason=reason,
        detail=msgspec.json.encode(detail or {}).decode(),
    )
    journal = Journal()
    journal.post(transfer, legs, member)
    overdrawn = _overdrawn(member, legs) if member is not None else {}
    if overdrawn and not allow_negative:
        raise ConflictError("the member's balance does not cover this")
    journal.insert(conn)
    for asset, balance in overdrawn.items():  # recorded for HQ, never silent
        conn.execute(
            db.exceptions.insert().values(
                kind=f"{kind.value}_overdraw",
                tx_id=tx_id,
                device_id=None,
                card_id=card_id,
                member_id=member_id,
                asset=asset.value,
                amount=-balance,
                detail=f"{kind.value} left {asset.value} at {balance}",
                created_ms=stamp,
            )
        )
    journal.settle(conn, members.values())
    return tx_id


def _overdrawn(member: MemberState, legs: Sequence[Leg]) -> dict[Asset, int]:
    """The balances, after these legs, that they lowered below zero."""
    lowered = {leg.asset for leg in legs if member.owns(leg.account) and leg.delta < 0}
    return {a: member.balance(a) for a in Asset if a in lowered and member.balance(a) < 0}


def reverse_points(conn: Connection, tx_id: str, actor: str, reason: str, rules: RuleSet) -> str:
    """Take back the points and growth a transfer earned (fraud), with an audit trail."""
    if len(reason.strip()) < REASON_LEN_MIN:
        raise ValidationError("a reversal needs a reason")
    original = conn.execute(sa.select(db.transfers).where(db.transfers.c.tx_id == tx_id)).first()
    if original is None:
        raise NotFoundError(f"transfer {tx_id} does not exist")
    already = conn.execute(
        sa.select(db.transfers.c.tx_id).where(
            db.transfers.c.kind == TxKind.REVERSAL.value,
            db.transfers.c.detail.contains(tx_id),
        )
    ).first()
    if already is not None:
        raise ConflictError(f"transfer {tx_id} was already reversed by {already[0]}")
    earned = member_credits(conn, tx_id, int(original.member_id))
    points, growth = earned.get(Asset.POINTS, 0), earned.get(Asset.GROWTH, 0)
    if points == 0 and growth == 0:
        raise ConflictError(f"transfer {tx_id} earned no points")
    legs = reversal_legs(int(original.member_id), points, growth)
    reversal = book_admin(
        conn,
        TxKind.REVERSAL,
        int(original.member_id),
        legs,
        actor,
        reason,
        rules=rules,
        card_id=original.card_id,
        detail={"reverses": tx_id},
        allow_negative=True,
    )
    audit(conn, actor, "ledger.reverse", tx_id, {"reason": reason, "reversal": reversal})
    return reversal


def member_credits(conn: Connection, tx_id: str, member_id: int) -> dict[Asset, int]:
    """What a transfer credited (net) to the member's accounts, by asset."""
    rows = conn.execute(
        sa.select(db.legs.c.asset, sa.func.sum(db.legs.c.credit) - sa.func.sum(db.legs.c.debit))
        .where(db.legs.c.tx_id == tx_id, db.legs.c.account.like(f"m:{member_id}:%"))
        .group_by(db.legs.c.asset)
    )
    return {Asset(asset): int(total) for asset, total in rows}
