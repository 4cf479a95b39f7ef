"""Sealing the members table in place: the rows from before the seal (migration 0031),
a key rotation (every value re-sealed under the newest key), and the way back
(downgrade). Raw SQL over id ranges, so a million members go in batches and the
column type (hub/member_schema.py `Sealed`) does not seal twice.

The same for the other sealed columns (migration 0034, `ELSEWHERE`): a member's
e-mail address and WeChat openid (member_contacts.address), and each notice's address,
body and template fields (notices.address, body, data: they hold the member's name).
Their batches are ranges of an integer key, not LIMITs, because a member's contacts
share the member's id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import privacy_keys as keys
from hub.progress import Progress, no_progress
from tapcard.domain.profile import phone_key as plain_key

BATCH_ROWS = 1000
COLUMNS = ("name", "phone", "address")


@dataclass(frozen=True, slots=True)
class SealCount:
    rows: int  # members rewritten
    left_plain: int  # members not sealed: no key loaded
    elsewhere: int = 0  # contacts and notices rewritten (`seal_elsewhere`)


@dataclass(frozen=True, slots=True)
class SealedTable:
    """A table outside members with sealed columns (each `Sealed` type names its context),
    read and rewritten in one pass whatever the number of its sealed columns."""

    table: str
    range_key: str  # an integer column: the batches are ranges of it
    row_keys: tuple[str, ...]  # what names one row
    columns: tuple[tuple[str, str], ...]  # (column, the seal's context as its type gives it)


ELSEWHERE: tuple[SealedTable, ...] = (
    SealedTable(
        "member_contacts", "member_id", ("member_id", "channel"), (("address", "contact_address"),)
    ),
    SealedTable(
        "notices",
        "id",
        ("id",),
        (("address", "notice_address"), ("body", "notice_body"), ("data", "notice_data")),
    ),
)

# A value's new text (None: leave it), given the value and its column's seal context.
Change = Callable[[str, str], str | None]


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


def seal_rows(
    conn: Connection, rotate: bool = False, progress: Progress = no_progress
) -> SealCount:
    """Seal every plain value (and with `rotate`, re-seal every value under an older
    key), with the blind indexes; phone_key, where a row holds it, becomes the phone's
    blind index. Without the keys loaded nothing is touched."""
    total = int(conn.execute(sa.text("SELECT COUNT(*) FROM members")).scalar_one())
    if not keys.installed():
        return SealCount(0, total)
    current = keys.current_kid()
    update = sa.text(
        "UPDATE members SET name = :name, phone = :phone, address = :address, "
        "phone_index = :phone_index, name_index = :name_index, phone_key = :phone_key "
        "WHERE id = :id"
    )
    written = read = 0
    for batch in _batches(conn):
        read += len(batch)
        progress("members", read, total)
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


def _table(spec: SealedTable) -> sa.TableClause:
    """The table without its column types, so the values pass as stored (the `Sealed`
    type would seal them again)."""
    names = (*spec.row_keys, *(c for c, _ in spec.columns))
    return sa.table(spec.table, *(sa.column(n) for n in names))


def _ranges(conn: Connection, spec: SealedTable, progress: Progress) -> Iterator[list[Any]]:
    """The table's rows in ranges of BATCH_ROWS key values: (row keys..., values...)."""
    t = _table(spec)
    key = t.c[spec.range_key]
    top = int(conn.execute(sa.select(sa.func.max(key))).scalar() or 0)
    low = 0
    while low < top:
        where = sa.and_(key > low, key <= low + BATCH_ROWS)
        yield list(conn.execute(sa.select(*t.c).where(where)))
        low += BATCH_ROWS
        progress(spec.table, min(low, top), top)


def _rewrite(
    conn: Connection, spec: SealedTable, change: Change, progress: Progress = no_progress
) -> int:
    """Each row's sealed values through `change`; a row is updated once, however many of
    its values change. The count is of values changed."""
    t = _table(spec)
    match = sa.and_(*(t.c[k] == sa.bindparam(f"k_{k}") for k in spec.row_keys))
    update = t.update().where(match).values({c: sa.bindparam(f"v_{c}") for c, _ in spec.columns})
    keys_n, written = len(spec.row_keys), 0
    for batch in _ranges(conn, spec, progress):
        values = []
        for row in batch:
            old = [str(v) for v in row[keys_n:]]
            new = [change(v, ctx) for v, (_, ctx) in zip(old, spec.columns, strict=True)]
            if all(n is None for n in new):
                continue
            written += sum(n is not None for n in new)
            named = {f"k_{k}": v for k, v in zip(spec.row_keys, row[:keys_n], strict=True)}
            kept = {
                f"v_{c}": n if n is not None else o
                for (c, _), o, n in zip(spec.columns, old, new, strict=True)
            }
            values.append({**named, **kept})
        if values:
            conn.execute(update, values)
    return written


def seal_elsewhere(conn: Connection, rotate: bool = False, progress: Progress = no_progress) -> int:
    """Seal the plain values of every `ELSEWHERE` column (with `rotate`, re-seal those
    under an older key too); without the keys loaded nothing is touched."""
    if not keys.installed():
        return 0
    current = keys.current_kid()

    def change(value: str, context: str) -> str | None:
        if not value or (keys.is_sealed(value) and not (rotate and _stale(value, current))):
            return None
        return keys.seal(keys.open_value(value, context), context)

    return sum(_rewrite(conn, spec, change, progress) for spec in ELSEWHERE)


def open_elsewhere(conn: Connection) -> int:
    """Back to plain text (downgrade below 0034): needs the keys of sealed rows."""

    def change(value: str, context: str) -> str | None:
        return keys.open_value(value, context) if keys.is_sealed(value) else None

    return sum(_rewrite(conn, spec, change) for spec in ELSEWHERE)
