"""`tapcard hub export`: members and transactions as CSV, for an accountant or another
system.

The members file has the columns `tapcard hub import` reads (hub/member_file.py), so a
file exported here imports into another hub with the same members, cards, tiers,
balances and points. Two things cannot travel: the full ID number (the hub keeps only a
mask and a keyed hash, so the column is the mask, and an import leaves it out) and each
point's earning date (imported points count as earned on the import day). Amounts are
in yuan with two decimals, in columns whose headers name the unit; times are local to
the zone given. Each CSV cell goes through the one writer that neutralises formulas.
Rows are streamed from the database in pages: a million members never sit in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from hub import db
from hub.progress import Progress, no_progress
from hub.web.export import neutral_cell
from tapcard.domain.ledger import member_account
from tapcard.domain.model import Asset, MemberStatus

PAGE_ROWS: Final = 5_000
MEMBER_COLUMNS: Final = (
    "name",
    "phone",
    "card_id",
    "id_number",
    "birthday",
    "address",
    "tier",
    "points",
    "balance_yuan",
    "joined_on",
    "expires_on",
    "tags",
    "branch",
)
TRANSACTION_COLUMNS: Final = (
    "tx_id",
    "local_time",
    "kind",
    "member_id",
    "card_id",
    "branch",
    "device",
    "actor",
    "account",
    "asset",
    "debit",
    "credit",
)


def yuan(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _writer(out: TextIO, columns: tuple[str, ...]) -> csv.DictWriter[str]:
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    return writer


def _member_pages(conn: Connection) -> Iterator[list[Row[Any]]]:
    """Active members that are people (not card accounts), by id, a page at a time."""
    m = db.members
    last = 0
    while True:
        page = conn.execute(
            sa.select(m)
            .where(m.c.id > last, m.c.state == MemberStatus.ACTIVE.value, m.c.person_id.is_(None))
            .order_by(m.c.id)
            .limit(PAGE_ROWS)
        ).all()
        if not page:
            return
        yield list(page)
        last = int(page[-1].id)


def _extras(
    conn: Connection, ids: list[int]
) -> tuple[dict[str, int], dict[int, str], dict[int, tuple[str, dt.date]]]:
    a, t, c = db.accounts, db.member_tags, db.cards
    balances = {
        str(code): int(amount)
        for code, amount in conn.execute(
            sa.select(a.c.code, a.c.balance).where(a.c.member_id.in_(ids))
        )
    }
    tags: dict[int, list[str]] = {}
    for member_id, tag in conn.execute(
        sa.select(t.c.member_id, t.c.tag).where(t.c.member_id.in_(ids)).order_by(t.c.tag)
    ):
        tags.setdefault(int(member_id), []).append(str(tag))
    cards: dict[int, tuple[str, dt.date]] = {}
    for card_id, member_id, expires_on in conn.execute(
        sa.select(c.c.id, c.c.member_id, c.c.expires_on)
        .where(c.c.member_id.in_(ids), c.c.state == "active", c.c.kind == "member")
        .order_by(c.c.issued_on, c.c.id)
    ):
        cards.setdefault(int(member_id), (str(card_id), expires_on))
    return (
        {k: int(v) for k, v in balances.items()},
        {k: ";".join(v) for k, v in tags.items()},
        cards,
    )


def export_members(conn: Connection, out: TextIO, progress: Progress = no_progress) -> int:
    """Write the members file; how many members it holds."""
    total = int(
        conn.execute(
            sa.select(sa.func.count()).where(
                db.members.c.state == MemberStatus.ACTIVE.value, db.members.c.person_id.is_(None)
            )
        ).scalar_one()
    )
    writer, done = _writer(out, MEMBER_COLUMNS), 0
    for page in _member_pages(conn):
        ids = [int(r.id) for r in page]
        balances, tags, cards = _extras(conn, ids)
        for r in page:
            card_id, expires_on = cards.get(int(r.id), ("", None))
            row = {
                "name": r.name,
                "phone": r.phone,
                "card_id": card_id,
                "id_number": r.id_number_masked,
                "birthday": r.birthday.isoformat() if r.birthday else "",
                "address": r.address,
                "tier": r.tier,
                "points": balances.get(member_account(int(r.id), Asset.POINTS), 0),
                "balance_yuan": yuan(balances.get(member_account(int(r.id), Asset.CENTS), 0)),
                "joined_on": r.joined_on.isoformat(),
                "expires_on": expires_on.isoformat() if expires_on else "",
                "tags": tags.get(int(r.id), ""),
                "branch": r.branch_id or "",
            }
            writer.writerow({k: neutral_cell(v) for k, v in row.items()})
        done += len(page)
        progress("members", done, total)
    return done


def export_transactions(
    conn: Connection,
    out: TextIO,
    since: dt.date,
    until: dt.date,
    zone: str,
    progress: Progress = no_progress,
) -> int:
    """Every leg of the transfers booked from `since` to `until` (local days, both
    included), one line a leg, with its transfer; how many legs were written."""
    tz = ZoneInfo(zone)
    start_ms = int(dt.datetime.combine(since, dt.time(), tz).timestamp() * 1000)
    end_ms = int(
        dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tz).timestamp() * 1000
    )
    t, g = db.transfers, db.legs
    writer, done, last = _writer(out, TRANSACTION_COLUMNS), 0, ""
    while True:
        page = conn.execute(
            sa.select(
                t.c.tx_id,
                t.c.created_ms,
                t.c.kind,
                t.c.member_id,
                t.c.card_id,
                t.c.branch_id,
                t.c.device_id,
                t.c.actor,
            )
            .where(t.c.created_ms >= start_ms, t.c.created_ms < end_ms, t.c.tx_id > last)
            .order_by(t.c.tx_id)
            .limit(PAGE_ROWS)
        ).all()
        if not page:
            return done
        by_tx = {str(r.tx_id): r for r in page}
        legs = conn.execute(
            sa.select(g.c.tx_id, g.c.account, g.c.asset, g.c.debit, g.c.credit)
            .where(g.c.tx_id.in_(list(by_tx)))
            .order_by(g.c.tx_id, g.c.account)
        ).all()
        for leg in legs:
            r = by_tx[str(leg.tx_id)]
            when = dt.datetime.fromtimestamp(r.created_ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")
            money = leg.asset == Asset.CENTS.value
            row = {
                "tx_id": r.tx_id,
                "local_time": when,
                "kind": r.kind,
                "member_id": r.member_id,
                "card_id": r.card_id or "",
                "branch": r.branch_id or "",
                "device": r.device_id or "",
                "actor": r.actor,
                "account": leg.account,
                "asset": "yuan" if money else leg.asset,
                "debit": yuan(leg.debit) if money else leg.debit,
                "credit": yuan(leg.credit) if money else leg.credit,
            }
            writer.writerow({k: neutral_cell(v) for k, v in row.items()})
        done += len(legs)
        last = str(page[-1].tx_id)
        progress("transactions", done, 0)


def write_file(path: Path) -> TextIO:
    """A CSV file with a BOM, so that Excel opens it as UTF-8 (Chinese names intact)."""
    return path.open("w", newline="", encoding="utf-8-sig")
