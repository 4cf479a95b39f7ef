"""The audit trail: every change made at HQ, by a device's staff or by the daily job."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from sqlalchemy.engine import Connection

from hub import db


def audit(
    conn: Connection, actor: str, action: str, target: str, detail: str | Mapping[str, object] = ""
) -> None:
    """One audit row, stamped by the hub's clock; a mapping is stored as JSON."""
    text = detail if isinstance(detail, str) else msgspec.json.encode(detail).decode()
    conn.execute(
        db.audit.insert().values(
            at_ms=db.now_ms(conn), actor=actor, action=action, target=target, detail=text
        )
    )
