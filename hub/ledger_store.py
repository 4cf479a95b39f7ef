"""What the ledger reads before deciding a batch and writes after, besides the journal.

Cards (and their spending today), answers already given, sequence numbers used,
redemption stock and receipt numbers; each read in chunks that fit SQLite's limit of
bound parameters, and on PostgreSQL with the rows locked where the batch changes them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.authority import Spent
from hub.decide import CardInfo
from hub.member_state import driver_date
from hub.posting import IN_CLAUSE_ITEMS_MAX
from tapcard.domain.authority import business_day_start_ms
from tapcard.domain.model import Asset, DeviceKind


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CLAUSE_ITEMS_MAX):
        yield items[start : start + IN_CLAUSE_ITEMS_MAX]


def driver_rows(
    conn: Connection, sql: str, ids: Sequence[object], before: tuple[object, ...] = ()
) -> Iterable[Any]:
    """The rows of `sql`, whose `{marks}` is an IN list of `ids` (chunked to SQLite's
    limit of bound parameters), run on the driver as it is: for the reads every batch
    makes, SQLAlchemy's expanding IN and row processing cost more than the queries.
    `before`: the values of placeholders that come before the list."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for start in range(0, len(ids), IN_CLAUSE_ITEMS_MAX):
        chunk = tuple(ids[start : start + IN_CLAUSE_ITEMS_MAX])
        text = sql.format(mark=mark, marks=", ".join([mark] * len(chunk)))
        yield from conn.exec_driver_sql(text, (*before, *chunk))


_CARD_SQL = (
    "SELECT id, member_id, kind, state, expires_on, state_ms, daily_cents_max, "
    "daily_points_max FROM cards WHERE id IN ({marks})"
)


def load_cards(conn: Connection, card_ids: Sequence[str]) -> dict[str, CardInfo]:
    found: dict[str, CardInfo] = {}
    for id_, member, kind, state, expires_on, state_ms, cents_max, points_max in driver_rows(
        conn, _CARD_SQL, card_ids
    ):
        expires = driver_date(expires_on)
        card = CardInfo(
            id_, int(member), kind, state, expires, int(state_ms), cents_max, points_max
        )
        found[id_] = card
    return found


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the ledger checks of a sending device: its kind, since when, its sequence."""

    kind: DeviceKind | None  # None: a kind this version does not know (may send nothing)
    provisioned_ms: int
    seq_max: int  # the highest sequence number answered
    offline_from_ms: int = 0  # its last contact before its latest silence (hub/registry.py)


def load_devices(
    conn: Connection, device_ids: Sequence[str], now_ms: int, gap_ms: int
) -> dict[str, DeviceInfo]:
    """The sending devices, with `offline_from_ms` as hub.registry.note_contact leaves it
    for a contact at `now_ms` after a silence longer than `gap_ms`: the ledger writes that
    contact last, just before commit, so that the one row every batch of a device updates
    is locked for the shortest time (two workers' batches of the same devices queued on it
    from their start to their commit)."""
    d = db.devices
    columns = (d.c.id, d.c.kind, d.c.created_ms, d.c.seq_max, d.c.offline_from_ms)
    query = sa.select(*columns, d.c.last_seen_ms).where(d.c.id.in_(sorted(set(device_ids))))
    kinds = {kind.value: kind for kind in DeviceKind}
    out = {}
    for row in conn.execute(query):
        last_seen_ms = int(row.last_seen_ms)
        silent = last_seen_ms < now_ms - gap_ms
        offline_from_ms = last_seen_ms if silent else int(row.offline_from_ms)
        seq_max = int(row.seq_max or 0)
        out[row.id] = DeviceInfo(kinds.get(row.kind), int(row.created_ms), seq_max, offline_from_ms)
    return out


class Scope(enum.Enum):
    CARD = "card"  # everything a card took (its own daily limits)
    OFFLINE_CARD = "offline_card"  # what a card took offline
    OFFLINE_DEVICE = "offline_device"  # what a device took offline, all cards


# (when, asset, debit of a member account)
_UsageRow = tuple[int, str, int]


@dataclass(slots=True)
class DayUsage:
    """What cards and devices took from members' accounts, by business day: read once
    for a batch from the transfers since `since_ms`, then counted on as it books."""

    rows: dict[tuple[Scope, str], list[_UsageRow]] = field(default_factory=dict)
    spent: dict[tuple[Scope, str, str, dt.date], Spent] = field(default_factory=dict)

    def of(self, scope: Scope, key: str, day: dt.date, zone: str) -> Spent:
        found = self.spent.get((scope, key, zone, day))
        if found is None:
            found = Spent()
            rows = self.rows.get((scope, key))
            if not rows:  # nothing taken: no business day's bounds to work out
                self.spent[(scope, key, zone, day)] = found
                return found
            start_ms = business_day_start_ms(day, zone)
            end_ms = business_day_start_ms(day + dt.timedelta(days=1), zone)
            for at_ms, asset, debit in rows:
                if start_ms <= at_ms < end_ms:
                    if asset == Asset.CENTS.value:
                        found.cents += debit
                    elif asset == Asset.POINTS.value:
                        found.points += debit
            self.spent[(scope, key, zone, day)] = found
        return found

    def add(self, scope: Scope, key: str, row: _UsageRow) -> None:
        self.rows.setdefault((scope, key), []).append(row)


def load_usage(
    conn: Connection,
    limited: Sequence[str],
    offline_cards: Sequence[str],
    devices: Sequence[str],
    since_ms: int,
) -> DayUsage:
    """Member debits since `since_ms`: all of the cards with their own daily limits, the
    offline ones of the cards and devices sending offline intents (through the indexes
    on (card_id, created_ms) and (device_id, created_ms))."""
    usage = DayUsage()
    t, legs = db.transfers, db.legs
    base = (
        sa.select(t.c.card_id, t.c.device_id, t.c.offline, t.c.created_ms, legs.c.asset)
        .add_columns(legs.c.debit)
        .join(t, t.c.tx_id == legs.c.tx_id)
        .where(t.c.created_ms >= since_ms, legs.c.account.like("m:%"), legs.c.debit > 0)
    )
    offline = t.c.offline.is_(True)
    for ids, query in (
        (limited, base),
        (sorted(set(offline_cards) - set(limited)), base.where(offline)),
        (devices, base.where(offline)),
    ):
        column = t.c.device_id if ids is devices else t.c.card_id
        for chunk in chunks(sorted(set(ids))):
            for card, device, was_offline, at_ms, asset, debit in conn.execute(
                query.where(column.in_(chunk))
            ):
                row = (int(at_ms), asset, int(debit))
                if ids is devices:
                    usage.add(Scope.OFFLINE_DEVICE, device, row)
                    continue
                usage.add(Scope.CARD, card, row)
                if was_offline:
                    usage.add(Scope.OFFLINE_CARD, card, row)
    return usage


def write_cards(conn: Connection, cards: Iterable[CardInfo]) -> None:
    for card in cards:
        if card.changed:
            conn.execute(
                db.cards.update()
                .where(db.cards.c.id == card.id)
                .values(state=card.state, expires_on=card.expires_on, state_ms=card.state_ms)
            )


def load_answered(conn: Connection, tx_ids: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    sql = "SELECT tx_id, digest, body FROM results WHERE tx_id IN ({marks})"
    rows = driver_rows(conn, sql, sorted(set(tx_ids)))
    return {tx: (digest, body.encode()) for tx, digest, body in rows}


def load_used_seqs(conn: Connection, sent: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The (device, sequence number) pairs already answered, with their transaction id."""
    by_device: dict[str, list[int]] = {}
    for device, seq in sent:
        by_device.setdefault(device, []).append(seq)
    used: dict[tuple[str, int], str] = {}
    sql = "SELECT seq, tx_id FROM results WHERE device_id = {mark} AND seq IN ({marks})"
    for device, seqs in by_device.items():
        for seq, tx in driver_rows(conn, sql, sorted(set(seqs)), (device,)):
            used[(device, int(seq))] = tx
    return used


def load_stock(conn: Connection, items: Sequence[str]) -> dict[str, int]:
    if not items:
        return {}
    query = sa.select(db.stock.c.item, db.stock.c.remaining).where(db.stock.c.item.in_(items))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {item: int(remaining) for item, remaining in conn.execute(query)}


def write_stock(conn: Connection, stock: dict[str, int]) -> None:
    if stock:
        conn.execute(
            db.stock.update()
            .where(db.stock.c.item == sa.bindparam("b_item"))
            .values(remaining=sa.bindparam("b_remaining")),
            [{"b_item": k, "b_remaining": v} for k, v in stock.items()],
        )


def load_receipts(conn: Connection, receipt_nos: Sequence[str]) -> set[str]:
    if not receipt_nos:
        return set()
    query = sa.select(db.receipts.c.receipt_no).where(db.receipts.c.receipt_no.in_(receipt_nos))
    return {row[0] for row in conn.execute(query)}


def write_seq_max(conn: Connection, seq_max: dict[str, int]) -> None:
    for device, seq in seq_max.items():
        conn.execute(
            db.devices.update()
            .where(db.devices.c.id == device, db.devices.c.seq_max < seq)
            .values(seq_max=seq)
        )
