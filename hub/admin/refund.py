"""Refunds booked at HQ (`tapcard hub refund`): the same decision as at a counter
(hub/refunds.py), posted through the journal like the other HQ operations.

`preview_refund` decides without booking, so the CLI can show what goes back before it
asks; `book_refund` decides again inside its own transaction (under the member's lock)
and books. A refund given a transfer id that is already booked answers what that one
did and books nothing, so running the same command twice refunds once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, refunds
from hub import ledger_store as store
from hub.admin.audit import audit
from hub.decide import Decision, _Ctx
from hub.member_state import MemberState, load_members
from hub.posting import Journal, Transfer
from hub.refunds import RefundBook, decide_refund
from hub.rulestore import RulesCache
from tapcard.domain.model import Asset, TxKind
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tapcard.wire.ids import new_tx_id

HQ_DEVICE = "hq"


@dataclass(frozen=True, slots=True)
class RefundDone:
    tx_id: str
    sale_tx_id: str
    member_id: int
    card_id: str
    money_cents: int
    payment: str
    points: int  # taken back (a redemption: restored)
    shortfall_points: int
    booked: bool  # False: this transfer id was booked before; nothing done now


def _decide(
    conn: Connection, rules: RulesCache, op: m.Refund, actor: str, tx_id: str
) -> tuple[Decision, RefundBook, MemberState, str]:
    book = RefundBook.load(conn, [op.ref], rules.get)
    sale = book.sales.get(op.ref.strip())
    if sale is None:
        raise NotFoundError(f"no purchase or redemption {op.ref.strip()[:64]}")
    members = load_members(conn, [sale.member_id], lock=True)
    card = store.load_cards(conn, [sale.card_id]).get(sale.card_id)
    sale_rules = refunds.sale_rules(rules.get, sale)  # with its branch's and device's overrides
    if card is None or sale_rules is None or sale.member_id not in members:
        raise ConflictError(f"sale {sale.tx_id} cannot be refunded here")
    now_ms = db.now_ms(conn)
    intent = m.TxIntent(
        tx_id=uuid.UUID(tx_id),
        device=HQ_DEVICE,
        seq=1,
        created_ms=now_ms,
        card_id=sale.card_id,
        rules_version=sale.rules_version,
        staff=actor[:64],
        op=op,
    )
    member = members[sale.member_id]
    today = db.today_at(conn)
    ctx = _Ctx(intent, sale_rules, member, today, [], {}, set(), b"", card, book, None)
    decision = decide_refund(ctx, op, book, None)
    if decision.reason is not Reason.OK:
        raise ConflictError(f"{decision.reason.name}: {decision.message}")
    decision.exceptions = ctx.exceptions + decision.exceptions
    return decision, book, member, sale.tx_id


def _done(
    decision: Decision, tx_id: str, sale_tx: str, member: MemberState, card: str
) -> RefundDone:
    detail = msgspec.json.decode(decision.detail_json)
    shortfall = sum(
        amount for kind, _, amount, _ in decision.exceptions if kind.startswith("refund")
    )
    return RefundDone(
        tx_id=tx_id,
        sale_tx_id=sale_tx,
        member_id=member.id,
        card_id=card,
        money_cents=decision.net_cents,
        payment=str(detail.get("payment", "")),
        points=decision.points_spent or decision.points_earned,
        shortfall_points=shortfall,
        booked=True,
    )


def preview_refund(conn: Connection, rules: RulesCache, op: m.Refund, actor: str) -> RefundDone:
    """What the refund would give back and take back; books nothing."""
    tx_id = str(new_tx_id(db.now_ms(conn)))
    decision, _, member, sale_tx = _decide(conn, rules, op, actor, tx_id)
    return _done(decision, tx_id, sale_tx, member, "")


def book_refund(
    conn: Connection, rules: RulesCache, op: m.Refund, actor: str, tx_id: str = ""
) -> RefundDone:
    """Book the refund under `tx_id` (new when ""); an id already booked is answered."""
    if len(op.reason.strip()) < 3:
        raise ValidationError("a refund needs a reason")
    tx_id = tx_id or str(new_tx_id(db.now_ms(conn)))
    try:
        uuid.UUID(tx_id)
    except ValueError:
        raise ValidationError(f"{tx_id!r} is not a transfer id") from None
    earlier = conn.execute(sa.select(db.refunds).where(db.refunds.c.tx_id == tx_id)).first()
    if earlier is not None:
        return RefundDone(
            tx_id, earlier.sale_tx_id, int(earlier.member_id), "", int(earlier.cents),
            earlier.payment, int(earlier.points), int(earlier.points_shortfall), booked=False,
        )  # fmt: skip
    decision, book, member, sale_tx = _decide(conn, rules, op, actor, tx_id)
    sale = book.sales[op.ref.strip()]
    now_ms = db.now_ms(conn)
    transfer = Transfer(
        tx_id=tx_id,
        kind=TxKind.REFUND,
        member_id=member.id,
        rules_version=sale.rules_version,
        created_ms=now_ms,
        applied_ms=now_ms,
        card_id=sale.card_id,
        branch_id=sale.branch_id,  # nets against the sale's branch (docs/refunds.md)
        actor=actor,
        reason=op.reason,
        detail=decision.detail_json,
    )
    journal = Journal()
    journal.post(transfer, decision.legs, member)
    for leg in decision.legs:  # growth taken back counts against this period's growth
        if leg.asset is Asset.GROWTH and member.owns(leg.account):
            member.period_growth += leg.delta
    journal.insert(conn)
    for kind, asset, amount, text in decision.exceptions:
        conn.execute(
            db.exceptions.insert().values(
                kind=kind, tx_id=tx_id, device_id=None, card_id=sale.card_id,
                member_id=member.id, asset=asset.value, amount=amount, detail=text,
                created_ms=now_ms,
            )
        )  # fmt: skip
    book.write(conn, journal.transfers, now_ms)
    journal.settle(conn, [member])
    audit(conn, actor, "ledger.refund", sale_tx, {"refund": tx_id, "reason": op.reason})
    return _done(decision, tx_id, sale_tx, member, sale.card_id)
