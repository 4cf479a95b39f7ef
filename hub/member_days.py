"""Each member's net spend and purchases per day and branch (the member_days table,
hub/ledger_schema.py), kept by the ledger in the same transaction as the legs.

`Journal.post` adds each transfer to a dict (`add`), `Journal.settle` upserts the
batch's sums at once (`write`), as it does the daily totals: one statement per batch.
Top members (hub/sales_reports.py) reads these rows; `check` re-sums the journal
against them for `tapcard hub verify`.

Net spend is what top members always counted: the sales account credited less the
discounts and refunds accounts debited (credit less debit over all three), on the
transfer's day and branch; an order is a purchase that touches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from tapcard.domain.ledger import Leg, system_account
from tapcard.domain.model import SystemAccount, TxKind

# (day since 1970, branch or "" for HQ, member) -> (net spend in cents, orders)
MemberDays = dict[tuple[int, str, int], tuple[int, int]]

SPEND_ACCOUNTS: Final = frozenset(
    system_account(a) for a in (SystemAccount.SALES, SystemAccount.DISCOUNTS, SystemAccount.REFUNDS)
)
PROBLEMS_LISTED_MAX: Final = 10


class Booked(Protocol):
    """What `add` reads of a transfer (hub.posting.Transfer)."""

    @property
    def kind(self) -> TxKind: ...
    @property
    def member_id(self) -> int: ...
    @property
    def created_ms(self) -> int: ...
    @property
    def branch_id(self) -> str | None: ...


def add(days: MemberDays, transfer: Booked, legs: Sequence[Leg]) -> None:
    """One transfer's spend, if it is a member's and touches sales, discounts or refunds."""
    if transfer.member_id <= 0:
        return
    net, touched = 0, False
    for leg in legs:
        if leg.account in SPEND_ACCOUNTS:
            net += leg.credit - leg.debit
            touched = True
    if not touched:
        return
    key = (transfer.created_ms // db.DAY_MS, transfer.branch_id or "", transfer.member_id)
    total, orders = days.get(key, (0, 0))
    days[key] = (total + net, orders + (transfer.kind is TxKind.PURCHASE))


def write(conn: Connection, days: MemberDays) -> None:
    """Upsert the batch's sums, in key order so that concurrent workers never deadlock."""
    if not days:
        return
    mark = "?" if db.is_sqlite(conn) else "%s"
    marks = ", ".join([mark] * 5)  # only driver placeholders go in
    sql = (
        "INSERT INTO member_days (day, branch_id, member_id, net_cents, orders) "  # noqa: S608
        f"VALUES ({marks}) ON CONFLICT (day, branch_id, member_id) DO UPDATE SET "
        "net_cents = member_days.net_cents + excluded.net_cents, "
        "orders = member_days.orders + excluded.orders"
    )
    conn.exec_driver_sql(sql, [(*k, *days[k]) for k in sorted(days)])


def from_journal(conn: Connection) -> MemberDays:
    """The same sums, from every transfer and leg (what `check` compares)."""
    t, g = db.transfers, db.legs
    per_transfer = (
        sa.select(
            (t.c.created_ms // db.DAY_MS).label("day"),
            sa.func.coalesce(t.c.branch_id, "").label("branch"),
            t.c.member_id,
            t.c.kind,
            sa.func.sum(g.c.credit - g.c.debit).label("net"),
        )
        .select_from(g.join(t, t.c.tx_id == g.c.tx_id))
        .where(t.c.member_id > 0, g.c.account.in_(sorted(SPEND_ACCOUNTS)))
        .group_by(t.c.tx_id, t.c.created_ms, t.c.branch_id, t.c.member_id, t.c.kind)
        .subquery()
    )
    p = per_transfer.c
    orders = sa.func.sum(sa.case((p.kind == TxKind.PURCHASE.value, 1), else_=0))
    query = sa.select(p.day, p.branch, p.member_id, sa.func.sum(p.net), orders).group_by(
        p.day, p.branch, p.member_id
    )
    return {(int(d), b, int(m)): (int(n), int(o)) for d, b, m, n, o in conn.execute(query)}


def stored(conn: Connection) -> MemberDays:
    d = db.member_days
    query = sa.select(d.c.day, d.c.branch_id, d.c.member_id, d.c.net_cents, d.c.orders)
    return {(int(x), b, int(m)): (int(n), int(o)) for x, b, m, n, o in conn.execute(query)}


def problems(conn: Connection) -> list[str]:
    """Each member day whose stored sums differ from the journal's (the first few)."""
    journal, kept = from_journal(conn), stored(conn)
    wrong = sorted(k for k in journal.keys() | kept.keys() if journal.get(k) != kept.get(k))
    return [
        f"member {k[2]} on day {k[0]} branch {k[1] or 'hq'}: spend and orders "
        f"{kept.get(k)} but the journal sums to {journal.get(k)}"
        for k in wrong[:PROBLEMS_LISTED_MAX]
    ]


def rebuild(conn: Connection) -> int:
    """Replace the table with the journal's sums (a repair after `verify` found a
    difference, or data loaded around the ledger); the rows written."""
    days = from_journal(conn)
    conn.execute(db.member_days.delete())
    write(conn, days)
    return len(days)
