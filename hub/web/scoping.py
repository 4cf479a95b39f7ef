"""Which members and cards a dashboard user may reach: a branch manager only their
branch's, everyone else all of them. The JSON API and the pages both ask here."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Path
from sqlalchemy.engine import Connection

from hub import db
from hub.web import auth
from tapcard.errors import NotFoundError

# A member id in a path: one no column can hold is refused at the edge (422).
MemberId = Annotated[int, Path(ge=1, le=db.INT_MAX)]


def member_rows_in_scope(
    conn: Connection, rows: list[dict[str, Any]], user: auth.User
) -> list[dict[str, Any]]:
    """The rows of a member search that this user may see."""
    if user.branch_scope is None or not rows:
        return rows
    ids = [r["id"] for r in rows]
    mine = set(
        conn.execute(
            sa.select(db.members.c.id).where(
                db.members.c.id.in_(ids), db.members.c.branch_id == user.branch_scope
            )
        ).scalars()
    )
    return [r for r in rows if r["id"] in mine]


def card_branch(conn: Connection, card_id: str) -> str | None:
    """The home branch of the card's member (None: an HQ member)."""
    row = conn.execute(
        sa.select(db.members.c.branch_id)
        .join(db.cards, db.cards.c.member_id == db.members.c.id)
        .where(db.cards.c.id == card_id)
    ).first()
    if row is None:
        raise NotFoundError(f"card {card_id} does not exist")
    return str(row.branch_id) if row.branch_id is not None else None
