"""Suspected clones as the hub sees them: one card id read from a chip it was not issued on.

A device sends the chip UID it read a card from with its snapshot query
(`SnapshotQuery.uid`). The hub knows each card's issued UID (`cards.uid`); a verified
card read from another chip means the issuer's signature was put on a second chip for
that card id, or the device reports wrongly. Either way HQ must look, so the hub records
an `exceptions` row of kind `suspected_clone`, which the dashboard's alerts list until
someone acknowledges it. The device's word is not trusted beyond raising the alert: the
snapshot is answered as usual, and the rows a device can cause are bounded (one per card
and seen chip, at most CLONE_ALERTS_OPEN_PER_CARD_MAX open per card and
CLONE_ALERTS_OPEN_PER_DEVICE_MAX per device), so no number of invented UIDs makes the
hub write more.
"""

from __future__ import annotations

import logging
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db

log = logging.getLogger(__name__)

EXCEPTION_KIND: Final = "suspected_clone"
CLONE_ALERTS_OPEN_PER_CARD_MAX: Final = 4  # more chips for one card tell HQ nothing new
CLONE_ALERTS_OPEN_PER_DEVICE_MAX: Final = 16
assert CLONE_ALERTS_OPEN_PER_CARD_MAX <= CLONE_ALERTS_OPEN_PER_DEVICE_MAX


def _detail(seen_uid: str, issued_uid: str) -> str:
    # The seen UID leads, so that an open alert for the same chip is found by prefix.
    return f"read from chip {seen_uid}; issued on chip {issued_uid}"


def note_seen_uid(
    conn: Connection, card_id: str, issued_uid: str, seen_uid: str, device_id: str
) -> bool:
    """Record a suspected-clone alert when `seen_uid` is not the card's issued UID.

    True when this sighting added an alert; False when the UIDs agree, either is unknown,
    the same chip is already alerted, or a bound is reached (logged). The caller commits.
    """
    seen, issued = seen_uid.lower(), issued_uid.lower()
    if not seen or not issued or seen == issued:
        return False
    e = db.exceptions
    open_rows = conn.execute(
        sa.select(e.c.card_id, e.c.device_id, e.c.detail).where(
            e.c.kind == EXCEPTION_KIND,
            e.c.acked_by.is_(None),
            sa.or_(e.c.card_id == card_id, e.c.device_id == device_id),
        )
    ).all()
    detail = _detail(seen, issued)
    prefix = detail.split(";", 1)[0] + ";"
    of_card = [r for r in open_rows if r.card_id == card_id]
    if any(r.detail.startswith(prefix) for r in of_card):
        return False
    of_device = [r for r in open_rows if r.device_id == device_id]
    if len(of_card) >= CLONE_ALERTS_OPEN_PER_CARD_MAX or (
        len(of_device) >= CLONE_ALERTS_OPEN_PER_DEVICE_MAX
    ):
        log.warning(
            "suspected clone of %s (%s) by %s: alert bound reached", card_id, seen, device_id
        )
        return False
    conn.execute(
        e.insert().values(
            kind=EXCEPTION_KIND,
            device_id=device_id,
            card_id=card_id,
            detail=detail,
            created_ms=db.now_ms(conn),
        )
    )
    log.warning(
        "suspected clone: card %s issued on chip %s read from chip %s by %s",
        card_id,
        issued,
        seen,
        device_id,
    )
    return True
