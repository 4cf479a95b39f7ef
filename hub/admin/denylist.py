"""The deny list: cards every device refuses, and its version devices compare."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.settings import get_setting, set_setting
from tapcard.wire.messages import DENYLIST_CARDS_MAX

log = logging.getLogger(__name__)

DENYLIST_VERSION_KEY = "denylist_version"


def denylist_version(conn: Connection) -> int:
    """The deny list's version: each card denied bumps it (0: nothing denied yet)."""
    return int(get_setting(conn, DENYLIST_VERSION_KEY, "0"))


def deny(conn: Connection, card_id: str, reason: str) -> int:
    """Put a card on the deny list and bump its version; returns the new version."""
    conn.execute(
        db.denylist.insert().values(card_id=card_id, reason=reason, since_ms=db.now_ms(conn))
    )
    version = denylist_version(conn) + 1
    set_setting(conn, DENYLIST_VERSION_KEY, str(version))
    return version


def denylist_cards(conn: Connection, today: dt.date | None = None) -> tuple[int, list[str]]:
    """The deny list devices get: denied cards that are still within their validity
    (an expired card is refused for its expiry anyway), at most DENYLIST_CARDS_MAX of
    them, the most recently denied first if there are more."""
    version = denylist_version(conn)
    d, c = db.denylist, db.cards
    query = (
        sa.select(d.c.card_id)
        .select_from(d.outerjoin(c, c.c.id == d.c.card_id))
        .where(sa.or_(c.c.expires_on.is_(None), c.c.expires_on >= (today or db.today_at(conn))))
        .order_by(d.c.since_ms.desc(), d.c.card_id)
        .limit(DENYLIST_CARDS_MAX + 1)
    )
    cards = list(conn.execute(query).scalars())
    if len(cards) > DENYLIST_CARDS_MAX:
        log.error(
            "the deny list holds more than %d valid cards: devices get the newest",
            DENYLIST_CARDS_MAX,
        )
        cards = cards[:DENYLIST_CARDS_MAX]
    return version, sorted(cards)
