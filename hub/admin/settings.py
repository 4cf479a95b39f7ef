"""The hub's own settings (key and text value): card number sequence, deny list version."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db


def get_setting(conn: Connection, key: str, default: str = "") -> str:
    value = conn.execute(sa.select(db.settings.c.value).where(db.settings.c.key == key)).scalar()
    return default if value is None else str(value)


def set_setting(conn: Connection, key: str, value: str) -> None:
    updated = conn.execute(
        db.settings.update().where(db.settings.c.key == key).values(value=value)
    ).rowcount
    if not updated:
        conn.execute(db.settings.insert().values(key=key, value=value))
