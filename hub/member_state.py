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

from sqlalchemy.engine import Connection

from hub import db
from hub.voucher_schema import JoinState
from tapcard.domain.ledger import Leg, member_account
from tapcard.domain.model import Asset
from tapcard.wire.messages import Balances

_ASSETS = tuple(Asset)  # iterating the enum class itself costs a generator per member
_ASSET_OF = {asset.value: asset for asset in Asset}  # Asset(text) is a slow enum lookup


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


# The columns `_member` reads, in its order.
_MEMBER_COLUMNS = "id, tier, joined_on, birthday, period_growth, last_activity_on, state, "
_MEMBER_COLUMNS += "id_number_hash, program"
_IDS_PER_QUERY_MAX = 900  # SQLite allows 999 bound parameters per statement by default


def driver_date(value: Any) -> dt.date:
    """A DATE as the driver returns it: a date (PostgreSQL) or ISO text (SQLite)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _member(row: Any) -> MemberState:
    id_, tier, joined_on, birthday, growth, last_activity_on, state, id_hash, program = row
    return MemberState(
        id=int(id_),
        tier=tier,
        joined_on=driver_date(joined_on),
        birthday=None if birthday is None else driver_date(birthday),
        period_growth=int(growth),
        last_activity_on=driver_date(last_activity_on),
        state=state,
        real_name=bool(id_hash),
        balances=dict.fromkeys(_ASSETS, 0),
        program=program or "",
    )


def load_members(conn: Connection, member_ids: Sequence[int], lock: bool) -> dict[int, MemberState]:
    """Members with their account balances; on PostgreSQL their rows are locked (in id
    order, so that two batches never deadlock). The queries go to the driver as they
    are: SQLAlchemy's expanding IN and its row and date processing cost the ingest ~40 µs
    per intent for 500 members (bench/ledger_batch.py)."""
    if not member_ids:
        return {}
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    lock_sql = " FOR UPDATE" if lock and conn.dialect.name == "postgresql" else ""
    lapsed = JoinState.LAPSED.value
    out: dict[int, MemberState] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), _IDS_PER_QUERY_MAX):
        chunk = tuple(ids[start : start + _IDS_PER_QUERY_MAX])
        marks = ", ".join([mark] * len(chunk))
        # Only our own column names and driver placeholders go into these texts.
        members = f"SELECT {_MEMBER_COLUMNS} FROM members WHERE id IN ({marks}) ORDER BY id"  # noqa: S608
        for row in conn.exec_driver_sql(members + lock_sql, chunk):
            out[int(row[0])] = _member(row)
        accounts = f"SELECT member_id, asset, balance FROM accounts WHERE member_id IN ({marks})"  # noqa: S608
        for member_id, asset, balance in conn.exec_driver_sql(accounts, chunk):
            out[member_id].balances[_ASSET_OF[asset]] = int(balance)
        join = (
            f"SELECT member_id FROM join_by_spend WHERE state = {mark} AND member_id IN ({marks})"  # noqa: S608
        )
        for (member_id,) in conn.exec_driver_sql(join, (lapsed, *chunk)):
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
    accounts = [(balance, code) for m in changed for code, balance in m.account_rows()]
    rows = [(m.tier, m.period_growth, m.last_activity_on, m.id) for m in changed]
    if conn.dialect.name == "postgresql":
        _write_from_arrays(conn, accounts, rows)
        return
    db.bulk_update(conn, db.accounts, "code", ["balance"], accounts)
    db.bulk_update(conn, db.members, "id", ["tier", "period_growth", "last_activity_on"], rows)


def _write_from_arrays(
    conn: Connection, accounts: list[tuple[int, str]], rows: list[tuple[str, int, dt.date, int]]
) -> None:
    """PostgreSQL: one UPDATE ... FROM unnest(column arrays) per table, not a statement
    per row (an executemany of ~1,500 UPDATEs a batch cost the hub ~60 µs per intent).
    The members' rows are already locked (load_members), so the order is free."""
    if accounts:
        balances, codes = (list(c) for c in zip(*accounts, strict=True))
        conn.exec_driver_sql(
            "UPDATE accounts SET balance = v.balance "
            "FROM unnest(%s::bigint[], %s::varchar[]) AS v(balance, code) "
            "WHERE accounts.code = v.code",
            (balances, codes),
        )
    tiers, growth, days, ids = (list(c) for c in zip(*rows, strict=True))
    conn.exec_driver_sql(
        "UPDATE members SET tier = v.tier, period_growth = v.growth, last_activity_on = v.day "
        "FROM unnest(%s::varchar[], %s::bigint[], %s::date[], %s::integer[]) "
        "AS v(tier, growth, day, id) WHERE members.id = v.id",
        (tiers, growth, days, ids),
    )
