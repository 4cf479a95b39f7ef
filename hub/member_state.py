"""A member's state as the ledger changes it: tier, period growth, activity, balances.

One place reads it (`load_members`, with the rows locked on PostgreSQL), changes it in
memory (`apply_legs` for what a transfer moves, `note_activity` for what an accepted
intent means for the membership) and writes it back (`write_members`). Both the
ledger's batches and the operations booked at HQ go through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.voucher_schema import JoinState
from tapcard.domain.ledger import Leg, member_account
from tapcard.domain.model import Asset
from tapcard.wire.messages import Balances

_ASSETS = tuple(Asset)  # iterating the enum class itself costs a generator per member


@dataclass(slots=True)
class MemberState:
    """A member and balances as read at the start of a batch, changed as it goes."""

    id: int
    tier: str
    joined_on: dt.date
    birthday: dt.date | None
    period_growth: int
    last_activity_on: dt.date
    state: str  # a MemberStatus value
    real_name: bool  # registered with an ID number: the higher stored-value limits
    balances: dict[Asset, int] = field(default_factory=dict)
    program: str = ""  # a category or co-branded card's own account: its program code
    changed: bool = False
    moved: set[Asset] = field(default_factory=set)  # the accounts whose balance changed
    # A joining by spend that lapsed unpaid: a renewal charges the joining fee, once.
    join_lapsed: bool = False
    join_paid: bool = False

    @classmethod
    def from_row(cls, row: Any) -> MemberState:
        return cls(
            id=int(row.id),
            tier=row.tier,
            joined_on=row.joined_on,
            birthday=row.birthday,
            period_growth=int(row.period_growth),
            last_activity_on=row.last_activity_on,
            state=row.state,
            real_name=bool(row.id_number_hash),
            balances=dict.fromkeys(_ASSETS, 0),
            program=row._mapping.get("program") or "",
        )

    def balance(self, asset: Asset) -> int:
        return self.balances.get(asset, 0)

    def owns(self, account: str) -> bool:
        return account.startswith(f"m:{self.id}:")

    def apply_legs(self, legs: Sequence[Leg]) -> None:
        """Move the balances by this member's legs (the others are system accounts)."""
        prefix = f"m:{self.id}:"
        for leg in legs:
            if leg.account.startswith(prefix):
                self.balances[leg.asset] = self.balance(leg.asset) + leg.delta
                self.moved.add(leg.asset)
                self.changed = True

    def note_activity(self, legs: Sequence[Leg], new_tier: str, today: dt.date) -> None:
        """What an accepted intent means for the membership: the growth it earned counts
        towards this period, a tier it reached is kept, and the member was active today.
        Operations at HQ (fees, reversals) are no activity and leave these alone."""
        for leg in legs:
            if leg.asset is Asset.GROWTH and self.owns(leg.account):
                self.period_growth += leg.delta
        if new_tier:
            self.tier = new_tier
        self.last_activity_on = max(self.last_activity_on, today)
        self.changed = True

    def balances_view(self) -> Balances:
        return Balances(
            points=self.balance(Asset.POINTS),
            growth=self.balance(Asset.GROWTH),
            stored_value_cents=self.balance(Asset.CENTS),
        )

    def account_rows(self) -> list[tuple[str, int]]:
        """(code, balance) of the accounts the batch moved: the others hold what was
        read under the member's lock, so writing them again would change nothing."""
        return [(member_account(self.id, a), self.balance(a)) for a in _ASSETS if a in self.moved]


def load_members(conn: Connection, member_ids: Sequence[int], lock: bool) -> dict[int, MemberState]:
    """Members with their account balances; on PostgreSQL their rows are locked."""
    if not member_ids:
        return {}
    query = sa.select(db.members).where(db.members.c.id.in_(member_ids)).order_by(db.members.c.id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    out = {row.id: MemberState.from_row(row) for row in conn.execute(query)}
    accounts = conn.execute(
        sa.select(db.accounts.c.member_id, db.accounts.c.asset, db.accounts.c.balance).where(
            db.accounts.c.member_id.in_(member_ids)
        )
    )
    for member_id, asset, balance in accounts:
        out[member_id].balances[Asset(asset)] = int(balance)
    j = db.join_by_spend
    lapsed = sa.select(j.c.member_id).where(
        j.c.member_id.in_(member_ids), j.c.state == JoinState.LAPSED.value
    )
    for member_id in conn.execute(lapsed).scalars():
        out[member_id].join_lapsed = True
    return out


def write_members(conn: Connection, members: Iterable[MemberState]) -> None:
    members = list(members)
    paid = sorted(m.id for m in members if m.join_paid)
    if paid:  # as hub.admin.joining.joining_fee_paid: a full member now
        j = db.join_by_spend
        conn.execute(
            j.update()
            .where(j.c.member_id.in_(paid), j.c.state == JoinState.LAPSED.value)
            .values(state=JoinState.PAID.value, settled_ms=db.now_ms(conn))
        )
    changed = [m for m in members if m.changed]
    if not changed:
        return
    db.bulk_update(
        conn,
        db.accounts,
        "code",
        ["balance"],
        [(balance, code) for m in changed for code, balance in m.account_rows()],
    )
    db.bulk_update(
        conn,
        db.members,
        "id",
        ["tier", "period_growth", "last_activity_on"],
        [(m.tier, m.period_growth, m.last_activity_on, m.id) for m in changed],
    )
