"""The one way into the journal: post transfers, their legs and what they move.

A `Journal` collects the transfers of one database transaction: the ledger's batch of
device intents, or one operation booked at HQ. `post` checks the legs balance, moves
the member's balances in memory and adds up the system accounts and daily totals;
`insert` writes the transfers and legs (before the rows that refer to a transfer);
`settle` writes the members' balances, the daily totals and each member's spend per
day (hub/member_days.py).

A system account (cash, sales, points issued...) has no balance row that every
transfer updates: that one hot row would order every worker's batches one after the
other. Its balance is the sum of its daily totals, which each batch adds to one of a
few shards (hub/ledger_schema.py); `balances` and `balance` read them.

The database checks the same invariants again: each leg has one positive side
(CHECK), and each transfer sums to zero per asset (a deferred trigger on PostgreSQL;
on SQLite, which cannot defer triggers, `check_balanced` before commit).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hub import db, member_days, point_buckets
from hub.ledger_schema import SHARDS_N
from hub.member_state import MemberState, write_members
from hub.point_buckets import Credit, Renewal
from tapcard.domain.ledger import Leg, system_account, validate_legs
from tapcard.domain.model import SYSTEM_ACCOUNT_ASSET, Asset, TxKind

IN_CLAUSE_ITEMS_MAX = 900  # SQLite allows 999 bound parameters per statement by default
SYSTEM_ACCOUNT_PREFIX = "s:"

# (day since 1970, branch or "" for HQ, account) -> (debit, credit, legs)
DailyTotals = dict[tuple[int, str, str], tuple[int, int, int]]

_ASSET_TEXT = {asset: asset.value for asset in Asset}
_NO_TOTALS = (0, 0, 0)
# The columns of `Journal.moved`: what differs per move first, then Transfer.row()'s rest.
_MOVED_COLUMNS = (
    *("tx_id", "member_id", "reason", "kind", "device_id", "seq", "card_id", "branch_id"),
    *("rules_version", "created_ms", "applied_ms", "offline", "actor", "detail"),
    "rules_effective",
)
_LEG_COLUMNS = ("tx_id", "account", "asset", "debit", "credit")


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer's own row: what kind, for whom, booked where, when and by whom."""

    tx_id: str
    kind: TxKind
    member_id: int
    rules_version: int
    created_ms: int  # when it happened (the hub's time: tapcard.domain.authority.hub_time_ms)
    applied_ms: int  # when it was booked
    card_id: str | None = None
    device_id: str | None = None  # None: booked at HQ
    seq: int | None = None
    branch_id: str | None = None  # None: HQ
    offline: bool = False
    actor: str = ""
    reason: str = ""
    detail: str = "{}"  # JSON
    # The branch's or device's effective rules it was decided with (hub/rulestore.py
    # `stamped`); None: the chain's own rules of rules_version.
    rules_effective: str | None = None

    def row(self) -> dict[str, object]:
        return {
            "tx_id": self.tx_id,
            "kind": self.kind.value,
            "device_id": self.device_id,
            "seq": self.seq,
            "card_id": self.card_id,
            "member_id": self.member_id,
            "branch_id": self.branch_id,
            "rules_version": self.rules_version,
            "created_ms": self.created_ms,
            "applied_ms": self.applied_ms,
            "offline": self.offline,
            "actor": self.actor,
            "reason": self.reason,
            "detail": self.detail,
            "rules_effective": self.rules_effective,
        }


class LegOwner(Protocol):
    """What `Journal.post` needs of a member: a MemberState, or the expiry job's
    points-only stand-in (hub/expiry.py), which writes its one account itself."""

    @property
    def id(self) -> int: ...

    def owns(self, account: str) -> bool: ...

    def apply_legs(self, legs: Sequence[Leg]) -> None: ...


@dataclass(slots=True)
class Journal:
    """The transfers of one database transaction, posted in memory, then written."""

    transfers: list[dict[str, object]] = field(default_factory=list)
    legs: list[tuple[str, str, str, int, int]] = field(default_factory=list)  # _LEG_COLUMNS
    daily: DailyTotals = field(default_factory=dict)
    spend: member_days.MemberDays = field(default_factory=dict)  # for top members
    # Points credited to members (their expiry buckets) and renewals (which thaw them).
    credits: list[Credit] = field(default_factory=list)
    renewals: list[Renewal] = field(default_factory=list)
    # `post_moves`' rows, as the driver takes them: no dict per row (a million a day).
    moved: list[tuple[object, ...]] = field(default_factory=list)  # _MOVED_COLUMNS
    moved_legs: list[tuple[str, str, str, int, int]] = field(default_factory=list)

    def post(
        self,
        transfer: Transfer,
        legs: Sequence[Leg],
        member: LegOwner | None,
        counterpart: LegOwner | None = None,
    ) -> None:
        """Book one transfer: its legs must balance and touch only `member`'s accounts
        and system accounts (callers validate input first; this is the second check).
        A merge alone moves between two members: the source is its `counterpart`."""
        errors = validate_legs(legs) if legs else []
        assert not errors, errors
        owners = [m for m in (member, counterpart) if m is not None]
        for leg in legs:
            if not leg.account.startswith(SYSTEM_ACCOUNT_PREFIX):
                assert any(m.owns(leg.account) for m in owners), leg.account
        if member is not None:
            assert member.id == transfer.member_id
        for owner in owners:
            owner.apply_legs(legs)
        self.transfers.append(transfer.row())
        tx = transfer.tx_id
        self.legs += [(tx, g.account, _ASSET_TEXT[g.asset], g.debit, g.credit) for g in legs]
        add_to_daily(self.daily, transfer.created_ms, transfer.branch_id, legs)
        member_days.add(self.spend, transfer, legs)
        self._note_points(transfer, legs)

    def _note_points(self, transfer: Transfer, legs: Sequence[Leg]) -> None:
        """What the expiry buckets need: every credit to a member's points account,
        whatever the path (ingest, HQ, refunds), and every renewal. A merge's credit is
        no new points: the source's buckets move to the target with their own expiry
        dates (hub/admin/merge.py), so they are not counted again here."""
        if transfer.kind is TxKind.MERGE:
            return
        for leg in legs:
            if leg.asset is Asset.POINTS and leg.credit > 0 and leg.account.startswith("m:"):
                member_id = int(leg.account.split(":")[1])  # m:<member>:points
                credit = Credit(member_id, transfer.rules_version, transfer.created_ms, leg.credit)
                self.credits.append(credit)
        if transfer.kind is TxKind.RENEWAL:
            old_expiry = point_buckets.renewed_from(transfer.detail)
            if old_expiry is not None:
                self.renewals.append(
                    Renewal(
                        transfer.member_id, old_expiry, transfer.rules_version, transfer.created_ms
                    )
                )

    def post_moves(
        self,
        template: Transfer,
        asset: Asset,
        to_account: str,
        moves: Sequence[tuple[str, int, int, str]],
    ) -> None:
        """Many transfers of one shape, as `post` books each of them: (tx id, member,
        amount, reason) debits the member's `asset` account by the amount and credits the
        system account `to_account`. For a daily job over a million members (the points
        expiry), where `post`'s per-leg generality is most of the time. The callers write
        the member accounts themselves; no credit to a member, so no expiry bucket, and
        no spend (member_days), which only sales, discounts and refunds move."""
        assert to_account.startswith(SYSTEM_ACCOUNT_PREFIX) and moves
        assert to_account not in member_days.SPEND_ACCOUNTS, to_account
        base = template.row()
        assert set(base) == set(_MOVED_COLUMNS), base
        rest = tuple(base[c] for c in _MOVED_COLUMNS[3:])
        day, branch, text = template.created_ms // db.DAY_MS, template.branch_id or "", asset.value
        daily, rows, legs, total = self.daily, self.moved, self.moved_legs, 0
        for tx_id, member_id, amount, reason in moves:
            assert type(amount) is int and amount > 0, amount
            account = f"m:{member_id}:{text}"
            rows.append((tx_id, member_id, reason, *rest))
            legs.append((tx_id, account, text, amount, 0))
            legs.append((tx_id, to_account, text, 0, amount))
            key = (day, branch, account)
            debit, credit, count = daily.get(key, _NO_TOTALS)
            daily[key] = (debit + amount, credit, count + 1)
            total += amount
        key = (day, branch, to_account)
        debit, credit, count = daily.get(key, _NO_TOTALS)
        daily[key] = (debit, credit + total, count + len(moves))

    @property
    def tx_ids(self) -> list[str]:
        return [str(t["tx_id"]) for t in self.transfers] + [str(t[0]) for t in self.moved]

    def insert(self, conn: Connection) -> None:
        """The transfers and legs, first: sale lines, campaigns and such refer to them."""
        db.bulk_insert(conn, db.transfers, self.transfers)
        insert_rows(conn, db.transfers, _MOVED_COLUMNS, self.moved)
        insert_rows(conn, db.legs, _LEG_COLUMNS, self.legs)
        insert_rows(conn, db.legs, _LEG_COLUMNS, self.moved_legs)

    def settle(self, conn: Connection, members: Iterable[MemberState]) -> None:
        """The balances the posted legs moved, the daily totals, and the balance check.
        The system accounts' totals go to a random shard (one writer on SQLite: always 0)."""
        write_members(conn, members)
        shard = 0 if db.is_sqlite(conn) else secrets.randbelow(SHARDS_N)
        db.add_daily_totals(conn, self.daily, shard)
        member_days.write(conn, self.spend)
        point_buckets.thaw(conn, self.renewals)  # before the new credits: they are not frozen
        point_buckets.add_credits(conn, self.credits)
        if db.is_sqlite(conn) and (self.transfers or self.moved):
            check_balanced(conn, self.tx_ids)


def balances(conn: Connection, codes: Sequence[str] | None = None) -> dict[str, int]:
    """Accounts' balances (credits less debits), all or those in `codes`: a member's
    from its row, a system account's summed from its daily totals (see the module's
    docstring). Unknown codes are left out."""
    a, d = db.accounts, db.daily_totals
    rows = sa.select(a.c.code, a.c.balance).where(a.c.member_id.is_not(None))
    derived = sa.select(d.c.account, sa.func.sum(d.c.credit - d.c.debit)).where(
        d.c.account.startswith(SYSTEM_ACCOUNT_PREFIX)
    )
    system = sa.select(a.c.code).where(a.c.code.startswith(SYSTEM_ACCOUNT_PREFIX))
    if codes is not None:
        rows, derived = rows.where(a.c.code.in_(codes)), derived.where(d.c.account.in_(codes))
        system = system.where(a.c.code.in_(codes))
    found = {str(code): int(total) for code, total in conn.execute(rows)}
    found |= {str(code): 0 for code in conn.execute(system).scalars()}
    found |= {str(c): int(t) for c, t in conn.execute(derived.group_by(d.c.account))}
    return found


def balance(conn: Connection, code: str) -> int:
    """One account's balance (0 for an account that does not exist)."""
    return balances(conn, [code]).get(code, 0)


def check_balanced(conn: Connection, tx_ids: Sequence[str]) -> None:
    """The database's zero-sum check for SQLite, which cannot defer triggers."""
    # On the driver: compiling an expanding IN of 900 ids cost ~8x the query itself.
    for start in range(0, len(tx_ids), IN_CLAUSE_ITEMS_MAX):
        chunk = tx_ids[start : start + IN_CLAUSE_ITEMS_MAX]
        sql = db.UNBALANCED_SQL.format(placeholders=", ".join("?" * len(chunk)))
        rows = conn.exec_driver_sql(sql, tuple(chunk)).all()
        if rows:
            raise IntegrityError("unbalanced transfer", None, Exception(f"unbalanced: {rows}"))


def add_to_daily(
    daily: DailyTotals, created_ms: int, branch_id: str | None, legs: Sequence[Leg]
) -> None:
    day = created_ms // db.DAY_MS
    for leg in legs:
        key = (day, branch_id or "", leg.account)
        debit, credit, count = daily.get(key, (0, 0, 0))
        daily[key] = (debit + leg.debit, credit + leg.credit, count + 1)


def ensure_system_accounts(conn: Connection) -> None:
    """The chain's own accounts, each with its one asset (created once, at init)."""
    existing = set(conn.execute(sa.select(db.accounts.c.code)).scalars())
    for account, asset in SYSTEM_ACCOUNT_ASSET.items():
        code = system_account(account)
        if code not in existing:
            conn.execute(db.accounts.insert().values(code=code, asset=asset.value, balance=0))


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """`db.bulk_insert` for rows already in column order. PostgreSQL gets them as one
    statement over column arrays: a statement per row cost it 4x as much."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        types = [table.c[c].type.compile(dialect=conn.dialect) for c in columns]
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        conn.exec_driver_sql(sql, tuple(list(c) for c in zip(*rows, strict=True)))
        return
    marks = ", ".join(["?"] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)  # noqa: S608
