"""A member's data on request (PIPL art. 45): one JSON document of everything the hub
holds about the person, written by `tapcard hub member data-export`.

The profile (opened: the member asked for it), contacts, consents as recorded (each
decision with its terms version and time), tags, cards, card accounts, balances, the
ledger's transfers with their legs, vouchers, the notices sent, the audit entries
about the member and the data-access log of who read the profile. Internal keys (the
ID number's hash, the blind indexes) are not the person's data and are left out.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.members import member_view
from hub.privacy import access_log

FORMAT = "tapcard.member-data/1"
INTERNAL = ("id_number_hash", "id_number_key", "phone_key", "phone_index", "name_index")


def _rows(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(query)]


def _ledger(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    t, g = db.transfers, db.legs
    transfers = _rows(conn, sa.select(t).where(t.c.member_id.in_(ids)).order_by(t.c.applied_ms))
    tx_ids = [row["tx_id"] for row in transfers]
    legs: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(tx_ids), 500):  # SQLite's bound-parameter limit
        chunk = tx_ids[start : start + 500]
        query = sa.select(g.c.tx_id, g.c.account, g.c.asset, g.c.debit, g.c.credit)
        for leg in _rows(conn, query.where(g.c.tx_id.in_(chunk)).order_by(g.c.id)):
            legs.setdefault(leg.pop("tx_id"), []).append(leg)
    for row in transfers:
        row["legs"] = legs.get(row["tx_id"], [])
    return transfers


def member_data(conn: Connection, member_id: int) -> dict[str, Any]:
    profile = member_view(conn, member_id)
    for key in INTERNAL:
        profile.pop(key, None)
    m = db.members
    holders = _rows(
        conn, sa.select(m.c.id, m.c.program, m.c.state).where(m.c.person_id == member_id)
    )
    ids = [member_id, *(int(h["id"]) for h in holders)]
    consent, contact, notice = db.member_consents, db.member_contacts, db.notices
    a, access = db.audit, access_log()
    return {
        "format": FORMAT,
        "member_id": member_id,
        "profile": profile,
        "card_accounts": holders,
        "contacts": _rows(conn, sa.select(contact).where(contact.c.member_id == member_id)),
        "consents": _rows(
            conn,
            sa.select(consent).where(consent.c.member_id == member_id).order_by(consent.c.id),
        ),
        "ledger": _ledger(conn, ids),
        "vouchers": _rows(conn, sa.select(db.vouchers).where(db.vouchers.c.member_id.in_(ids))),
        "notices": _rows(
            conn, sa.select(notice).where(notice.c.member_id.in_(ids)).order_by(notice.c.id)
        ),
        "audit": _rows(
            conn,
            sa.select(a).where(a.c.target.in_([str(i) for i in ids])).order_by(a.c.id),
        ),
        "access_log": _rows(
            conn, sa.select(access).where(access.c.member_id == member_id).order_by(access.c.id)
        ),
    }


def _plain(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def write_member_data(data: dict[str, Any], path: Path) -> int:
    """The document as UTF-8 JSON in a private file (0600); returns its bytes."""
    text = json.dumps(data, ensure_ascii=False, indent=1, default=_plain, sort_keys=True)
    raw = (text + "\n").encode()
    # 0600 from the start; the folder is the operator's (it is not made private).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(raw)
    return len(raw)
