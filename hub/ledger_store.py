"""What the ledger reads before deciding a batch and writes after, besides the journal.

Cards (and their spending today), answers already given, sequence numbers used,
redemption stock and receipt numbers; each read in chunks that fit SQLite's limit of
bound parameters, and on PostgreSQL with the rows locked where the batch changes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.decide import CardInfo
from hub.posting import IN_CLAUSE_ITEMS_MAX
from tapcard.domain.model import Asset


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CLAUSE_ITEMS_MAX):
        yield items[start : start + IN_CLAUSE_ITEMS_MAX]


def load_cards(conn: Connection, card_ids: Sequence[str]) -> dict[str, CardInfo]:
    found: dict[str, CardInfo] = {}
    for chunk in chunks(card_ids):
        for row in conn.execute(sa.select(db.cards).where(db.cards.c.id.in_(chunk))):
            found[row.id] = CardInfo.from_row(row)
    return found


def load_card_usage(conn: Connection, cards: Iterable[CardInfo], now_ms: int) -> None:
    """Today's spending of the cards that have their own daily limits."""
    day_start_ms = now_ms - now_ms % db.DAY_MS
    for card in cards:
        if card.daily_cents_max is None and card.daily_points_max is None:
            continue
        query = (
            sa.select(db.legs.c.asset, sa.func.coalesce(sa.func.sum(db.legs.c.debit), 0))
            .join(db.transfers, db.transfers.c.tx_id == db.legs.c.tx_id)
            .where(
                db.transfers.c.card_id == card.id,
                db.transfers.c.created_ms >= day_start_ms,
                db.legs.c.account.like("m:%"),
            )
            .group_by(db.legs.c.asset)
        )
        for asset, debit in conn.execute(query):
            if asset == Asset.CENTS.value:
                card.spent_today_cents = int(debit)
            elif asset == Asset.POINTS.value:
                card.spent_today_points = int(debit)


def write_cards(conn: Connection, cards: Iterable[CardInfo]) -> None:
    for card in cards:
        if card.changed:
            conn.execute(
                db.cards.update()
                .where(db.cards.c.id == card.id)
                .values(state=card.state, expires_on=card.expires_on, state_ms=card.state_ms)
            )


def load_answered(conn: Connection, tx_ids: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for chunk in chunks(sorted(set(tx_ids))):
        query = sa.select(db.results.c.tx_id, db.results.c.digest, db.results.c.body).where(
            db.results.c.tx_id.in_(chunk)
        )
        for tx, digest, body in conn.execute(query):
            found[tx] = (digest, body.encode())
    return found


def load_used_seqs(conn: Connection, sent: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The (device, sequence number) pairs already answered, with their transaction id."""
    by_device: dict[str, list[int]] = {}
    for device, seq in sent:
        by_device.setdefault(device, []).append(seq)
    used: dict[tuple[str, int], str] = {}
    for device, seqs in by_device.items():
        query = sa.select(db.results.c.seq, db.results.c.tx_id).where(
            db.results.c.device_id == device, db.results.c.seq.in_(sorted(set(seqs)))
        )
        for seq, tx in conn.execute(query):
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
