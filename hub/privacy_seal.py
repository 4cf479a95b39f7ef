"""Sealing the members table in place: the rows from before the seal (migration 0031),
a key rotation (every value re-sealed under the newest key), and the way back
(downgrade). Raw SQL over id ranges, so a million members go in batches and the
column type (hub/member_schema.py `Sealed`) does not seal twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import privacy_keys as keys
from tapcard.domain.profile import phone_key as plain_key

BATCH_ROWS = 1000
COLUMNS = ("name", "phone", "address")


@dataclass(frozen=True, slots=True)
class SealCount:
    rows: int  # rows rewritten
    left_plain: int  # rows not sealed: no key loaded


def _batches(conn: Connection) -> Iterator[list[Any]]:
    """Rows by id, a batch at a time (each batch's UPDATE runs before the next read)."""
    last = 0
    query = sa.text(
        "SELECT id, name, phone, address, phone_key FROM members "
        "WHERE id > :last ORDER BY id LIMIT :n"
    )
    while True:
        rows = list(conn.execute(query, {"last": last, "n": BATCH_ROWS}))
        if not rows:
            return
        yield rows
        last = int(rows[-1][0])


def _stale(value: str, current: str) -> bool:
    return bool(value) and keys.sealed_kid(value) != current


def seal_rows(conn: Connection, rotate: bool = False) -> SealCount:
    """Seal every plain value (and with `rotate`, re-seal every value under an older
    key), with the blind indexes; phone_key, where a row holds it, becomes the phone's
    blind index. Without the keys loaded nothing is touched."""
    if not keys.installed():
        count = conn.execute(sa.text("SELECT COUNT(*) FROM members")).scalar_one()
        return SealCount(0, int(count))
    current = keys.sealed_kid(keys.seal("x", "probe"))
    update = sa.text(
        "UPDATE members SET name = :name, phone = :phone, address = :address, "
        "phone_index = :phone_index, name_index = :name_index, phone_key = :phone_key "
        "WHERE id = :id"
    )
    written = 0
    for batch in _batches(conn):
        values = []
        for member_id, name, phone, address, phone_key in batch:
            texts = (name, phone, address)
            if not any(not keys.is_sealed(t) if t else False for t in texts) and not (
                rotate and any(_stale(t, current) for t in texts)
            ):
                continue
            plain = [keys.open_value(t, c) for t, c in zip(texts, COLUMNS, strict=True)]
            index = keys.phone_index(plain[1])
            values.append(
                {
                    "id": member_id,
                    **{c: keys.seal(p, c) for c, p in zip(COLUMNS, plain, strict=True)},
                    "phone_index": index,
                    "name_index": keys.name_index(plain[0]),
                    "phone_key": (index or None) if phone_key is not None else None,
                }
            )
        if values:
            conn.execute(update, values)
            written += len(values)
    return SealCount(written, 0)


def open_rows(conn: Connection) -> int:
    """Back to plain text (downgrade below 0031): needs the keys of sealed rows."""
    update = sa.text(
        "UPDATE members SET name = :name, phone = :phone, address = :address, "
        "phone_key = :phone_key WHERE id = :id"
    )
    written = 0
    for batch in _batches(conn):
        values = [
            {
                "id": member_id,
                "name": keys.open_value(name, "name"),
                "phone": keys.open_value(phone, "phone"),
                "address": keys.open_value(address, "address"),
                "phone_key": None
                if key is None
                else plain_key(keys.open_value(phone, "phone"))[:32],
            }
            for member_id, name, phone, address, key in batch
            if any(keys.is_sealed(t) for t in (name, phone, address))
        ]
        if values:
            conn.execute(update, values)
            written += len(values)
    return written
