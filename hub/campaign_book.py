"""Targeted campaigns at the hub: who a sale's member is for them, what is left of each
capped campaign's budget, and what a booked sale used of it.

The ledger loads one `CampaignBook` per batch (`load`): the member's segments from
segment_members, their uses of the capped campaigns, and each capped campaign's budget
row, locked (FOR UPDATE on PostgreSQL, in code order after the members' rows; SQLite's
writer holds the database) so that a second worker waits for this batch's commit and
then reads what it spent. Decisions take their room from the book (`quote`), a booked
sale adds to it (`booked`), and `write` stores it in the batch's transaction: two
workers cannot both spend the last of a budget, and when it is spent the campaign stops
at the next sale. A member in a campaign's control group never gets it.

The device decides offline from the segments in the card's snapshot and cannot know a
budget or a member's uses: when its decision (the quote without room) differs from the
hub's, the hub books its own and records an `offline_campaign` exception.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hub import db
from hub.segments import held_out
from tapcard.domain import engine
from tapcard.domain.model import Asset
from tapcard.domain.rules import CampaignKind, RuleSet
from tapcard.domain.targeting import Room, room_of
from tapcard.wire.messages import Purchase, Snapshot, TxIntent

if TYPE_CHECKING:
    from hub.member_state import MemberState

# (code, discount, cost: discount plus gift, extra points) per campaign a sale used.
Costs = tuple[tuple[str, int, int, int], ...]


class _Sent(Protocol):
    @property
    def intent(self) -> TxIntent: ...

    @property
    def branch_id(self) -> str: ...

    @property
    def device_id(self) -> str: ...


RulesFor = Callable[[int, str, str], RuleSet | None]


@dataclass(slots=True)
class CampaignBook:
    """One batch's view of the targeted campaigns; empty when the batch has no sale."""

    spent: dict[str, list[int]] = field(default_factory=dict)  # code -> [cents, points, uses]
    uses: dict[tuple[str, int], int] = field(default_factory=dict)  # (code, member) -> uses
    segments: dict[int, frozenset[str]] = field(default_factory=dict)
    use_rows: list[dict[str, object]] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)

    @classmethod
    def load(
        cls, conn: Connection, batch: Iterable[_Sent], rules_for: RulesFor, member_ids: list[int]
    ) -> CampaignBook:
        sales = [s for s in batch if isinstance(s.intent.op, Purchase)]
        if not sales:
            return cls()
        found = (rules_for(s.intent.rules_version, s.branch_id, s.device_id) for s in sales)
        rule_sets = [r for r in found if r is not None]
        codes = sorted({c.code for r in rule_sets for c in r.campaigns if c.capped})
        book = cls(segments=_segments(conn, member_ids) if _targets(rule_sets) else {})
        if codes:
            book.spent = _lock_budgets(conn, codes)
            book.uses = _member_uses(conn, codes, member_ids)
        return book

    def context(
        self, ctx: engine.MemberContext, rules: RuleSet, member_id: int
    ) -> engine.MemberContext:
        """The member's context with their segments and the control groups holding them."""
        out = frozenset(
            c.code
            for c in rules.campaigns
            if c.control_percent and held_out(member_id, c.code, c.control_percent)
        )
        return dataclasses.replace(
            ctx, segments=self.segments.get(member_id, frozenset()), held_out=out
        )

    def room(self, rules: RuleSet, member_id: int) -> dict[str, Room]:
        room: dict[str, Room] = {}
        for c in rules.campaigns:
            if c.capped:
                cents, points, _ = self.spent.get(c.code, [0, 0, 0])
                room[c.code] = room_of(c, cents, points, self.uses.get((c.code, member_id), 0))
        return room

    def booked(
        self, tx: str, member_id: int, costs: Costs, net_cents: int, at_ms: int
    ) -> list[dict[str, object]]:
        """Count a booked sale's campaigns; its transfer_campaigns rows."""
        rows: list[dict[str, object]] = []
        for code, off, cents, points in costs:
            if code in self.spent:
                spent = self.spent[code]
                spent[0], spent[1], spent[2] = spent[0] + cents, spent[1] + points, spent[2] + 1
                self.changed.add(code)
            key = (code, member_id)
            self.uses[key] = self.uses.get(key, 0) + 1
            use = {"tx_id": tx, "code": code, "member_id": member_id, "created_ms": at_ms}
            self.use_rows.append({**use, "cost_cents": cents, "points": points})
            rows.append({**use, "net_cents": net_cents, "campaign_discount_cents": off})
        return rows

    def write(self, conn: Connection) -> None:
        db.bulk_insert(conn, db.campaign_uses, self.use_rows)
        if not self.changed:
            return
        b = db.campaign_budgets
        conn.execute(
            b.update()
            .where(b.c.code == sa.bindparam("b_code"))
            .values(
                spent_cents=sa.bindparam("b_cents"),
                spent_points=sa.bindparam("b_points"),
                uses=sa.bindparam("b_uses"),
            ),
            [
                {"b_code": k, "b_cents": v[0], "b_points": v[1], "b_uses": v[2]}
                for k, v in ((k, self.spent[k]) for k in sorted(self.changed))
            ],
        )


class _Deciding(Protocol):
    """What a sale's decision (hub/decide.py) hands over."""

    campaigns: CampaignBook | None
    rules: RuleSet
    member: MemberState
    intent: TxIntent
    today: dt.date
    exceptions: list[tuple[str, Asset, int, str]]

    def context(self) -> engine.MemberContext: ...


def quote(
    d: _Deciding, lines: Sequence[engine.SaleLine], pricing: engine.Pricing | None
) -> tuple[engine.SaleQuote, Costs]:
    """The hub's quote of a sale with the member's targeting and the budgets' room, and
    what each campaign cost; an offline sale's difference from what the device could
    decide goes to `d.exceptions` (booked only with the sale)."""
    rules, book = d.rules, d.campaigns
    if book is None:  # a decision outside a batch (tests of decide alone): no targeting
        q = engine.quote_sale(rules, d.context(), lines, d.today, pricing)
        return q, costs_of(rules, q)
    targeted = book.context(d.context(), rules, d.member.id)
    room = book.room(rules, d.member.id)
    q = engine.quote_sale(rules, targeted, lines, d.today, pricing, room)
    if d.intent.offline:
        device = engine.quote_sale(rules, targeted, lines, d.today, pricing)
        if (device.campaign_offs, device.points) != (q.campaign_offs, q.points):
            cents = device.campaign_discount_cents - q.campaign_discount_cents
            detail = (
                f"device could give {list(device.campaign_offs)} and {device.points} points, "
                f"the hub booked {list(q.campaign_offs)} and {q.points} points"
            )
            d.exceptions.append(("offline_campaign", Asset.CENTS, abs(cents), detail))
    return q, costs_of(rules, q)


def costs_of(rules: RuleSet, q: engine.SaleQuote) -> Costs:
    gift_cost = {c.code: c.gift_cost_cents for c in rules.campaigns if c.kind is CampaignKind.GIFT}
    points = dict(q.campaign_points)
    return tuple(
        (code, off, off + gift_cost.get(code, 0), points.get(code, 0))
        for code, off in q.campaign_offs
    )


def _targets(rule_sets: Sequence[RuleSet]) -> bool:
    return any(c.segment for r in rule_sets for c in r.campaigns)


def _segments(conn: Connection, member_ids: list[int]) -> dict[int, frozenset[str]]:
    sm = db.segment_members
    found: dict[int, set[str]] = {}
    if not member_ids:
        return {}
    query = sa.select(sm.c.member_id, sm.c.segment_code).where(sm.c.member_id.in_(member_ids))
    for member_id, code in conn.execute(query):
        found.setdefault(int(member_id), set()).add(code)
    return {k: frozenset(v) for k, v in found.items()}


def _lock_budgets(conn: Connection, codes: list[str]) -> dict[str, list[int]]:
    b = db.campaign_budgets
    fresh = [{"code": c, "spent_cents": 0, "spent_points": 0, "uses": 0} for c in codes]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(b).values(fresh).on_conflict_do_nothing(index_elements=["code"]))
    query = sa.select(b).where(b.c.code.in_(codes)).order_by(b.c.code)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {
        r.code: [int(r.spent_cents), int(r.spent_points), int(r.uses)] for r in conn.execute(query)
    }


def _member_uses(
    conn: Connection, codes: list[str], member_ids: list[int]
) -> dict[tuple[str, int], int]:
    u = db.campaign_uses
    if not member_ids:
        return {}
    query = (
        sa.select(u.c.code, u.c.member_id, sa.func.count())
        .where(u.c.code.in_(codes), u.c.member_id.in_(member_ids))
        .group_by(u.c.code, u.c.member_id)
    )
    return {(code, int(m)): int(n) for code, m, n in conn.execute(query)}


def with_targeting(conn: Connection, snapshot: Snapshot, rules: RuleSet | None) -> Snapshot:
    """The card's snapshot with its member's segments and the control groups holding
    them under the chain's rules: what the device's offline quote targets with."""
    found = conn.execute(sa.select(db.cards.c.member_id).where(db.cards.c.id == snapshot.card_id))
    member_id = int(found.scalar_one())
    segments = sorted(_segments(conn, [member_id]).get(member_id, frozenset()))
    campaigns = rules.campaigns if rules is not None else ()
    out = sorted(
        c.code
        for c in campaigns
        if c.control_percent and held_out(member_id, c.code, c.control_percent)
    )
    return msgspec.structs.replace(snapshot, segments=segments, held_out=out)


def as_sold(rules: RuleSet | None, detail: dict[str, Any]) -> RuleSet | None:
    """The rules as a sale's refund prices it again (hub/refunds.py): the targeted
    campaigns the sale got apply to it without their limits, the ones it did not get do
    not, whoever the member is now and whatever is left of the budgets."""
    if rules is None:
        return None
    applied = set(detail.get("campaigns") or ())
    kept = []
    for c in rules.campaigns:
        if not (c.segment or c.branches or c.control_percent or c.capped):
            kept.append(c)
        elif c.code in applied:
            unlimited = dataclasses.replace(c, segment="", branches=(), control_percent=0)
            kept.append(
                dataclasses.replace(unlimited, budget_cents=0, budget_points=0, member_uses_max=0)
            )
    return dataclasses.replace(rules, campaigns=tuple(kept))
