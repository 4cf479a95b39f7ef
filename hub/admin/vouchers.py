"""Vouchers from redemptions, accepted once wherever they are shown."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from tapcard.domain import engine as rules_engine
from tapcard.errors import ConflictError, NotFoundError, ValidationError


def use_voucher(conn: Connection, code_text: str, actor: str) -> dict[str, str | int]:
    """Accept a voucher once (a car park's exit, a wash bay, a counter): it is marked used
    in the same statement that checks it was not, so two places accepting the same code
    at the same moment get one yes and one "already used"."""
    code = rules_engine.parse_voucher_code(code_text)
    if code is None:
        raise ValidationError(f"{code_text.strip()[:40]!r} is not a voucher code")
    v = db.vouchers
    row = conn.execute(sa.select(v).where(v.c.code == code)).first()
    if row is None:
        raise NotFoundError(f"no voucher {code}")
    if row.voided_ms is not None:  # its redemption was refunded (hub/refunds.py)
        raise ConflictError(f"voucher {code} was voided by a refund")
    at_ms = db.now_ms(conn)
    taken = conn.execute(
        v.update().where(v.c.code == code, v.c.used_ms.is_(None)).values(used_ms=at_ms)
    ).rowcount
    if taken != 1:
        used = conn.execute(sa.select(v.c.used_ms).where(v.c.code == code)).scalar_one()
        when = dt.datetime.fromtimestamp(int(used) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
        raise ConflictError(f"voucher {code} was already used at {when} UTC")
    view: dict[str, str | int] = {
        "code": code,
        "item": row.item,
        "units": int(row.units),
        "member_id": int(row.member_id),
        "issued_ms": int(row.issued_ms),
        "used_ms": at_ms,
    }
    audit(conn, actor, "voucher.use", code, {"item": row.item, "units": int(row.units)})
    return view
