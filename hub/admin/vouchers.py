"""Vouchers from redemptions: accepted once, where and while they count; an unused
expired one gives its points back when its catalog item said so at issue."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.member_state import load_members
from hub.posting import IN_CLAUSE_ITEMS_MAX, Journal, Transfer
from hub.progress import Progress, no_progress
from hub.voucher_schema import terms_of_row
from tapcard.domain import engine as rules_engine
from tapcard.domain import vouchers as terms
from tapcard.domain.ledger import member_account, voucher_expiry_legs
from tapcard.domain.model import Asset, TxKind
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire.ids import new_tx_id

VOUCHERS_PER_PASS_MAX = 100_000  # bound one run of the expiry job; the next run continues
EXPIRY_ACTOR = "maintenance"
_REFUSED_TEXT = {
    terms.VoucherRefusal.EXPIRED: "expired at {when} UTC",
    terms.VoucherRefusal.WRONG_BRANCH: "counts only at branch {branches}",
    terms.VoucherRefusal.WRONG_DEVICE: "counts only at a {kinds}",
}


class VoucherRefused(ConflictError):
    """The voucher exists and is unused but does not count now or here."""

    def __init__(self, why: terms.VoucherRefusal, message: str) -> None:
        super().__init__(message)
        self.why = why


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def use_voucher(
    conn: Connection, code_text: str, actor: str, place: terms.Place | None = None
) -> dict[str, str | int]:
    """Accept a voucher once (a car park's exit, a wash bay, a counter) at `place` (the
    accepting device's branch and kind from the hub's registry; None: HQ, where only the
    expiry applies). It is marked used in the same statement that checks it was not, so
    two places accepting the same code at the same moment get one yes and one "already
    used"; an expired or misplaced one is refused with the reason and stays unused."""
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
    if row.used_ms is None:
        voucher_terms = terms_of_row(row)
        why = terms.refusal(voucher_terms, at_ms, place)
        if why is not None:
            text = _REFUSED_TEXT[why].format(
                when=_utc(voucher_terms.expires_ms or 0),
                branches=" or ".join(voucher_terms.branches),
                kinds=" or ".join(voucher_terms.device_kinds),
            )
            raise VoucherRefused(why, f"voucher {code} {text}")
    taken = conn.execute(
        v.update()
        .where(v.c.code == code, v.c.used_ms.is_(None), v.c.expired_ms.is_(None))
        .values(used_ms=at_ms)
    ).rowcount
    if taken != 1:
        used = conn.execute(sa.select(v.c.used_ms).where(v.c.code == code)).scalar_one()
        if used is None:  # the expiry job gave it back in the meantime
            raise VoucherRefused(terms.VoucherRefusal.EXPIRED, f"voucher {code} has expired")
        raise ConflictError(f"voucher {code} was already used at {_utc(int(used))} UTC")
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


@dataclass(slots=True)
class ExpiryReport:
    expired: list[str] = field(default_factory=list)  # codes marked expired this run
    points_back: dict[str, int] = field(default_factory=dict)  # code -> points given back


def expire_vouchers(
    conn: Connection, rules: RuleSet, progress: Progress = no_progress
) -> ExpiryReport:
    """Mark the unused vouchers past their expiry (hub time) expired, and book the points
    of those whose item said so back to the member as VOUCHER_EXPIRY transfers, with the
    prizes' stock restored. Each voucher once: the rows are locked as they are read (on
    PostgreSQL; SQLite has one writer), marked in the same database transaction as the
    booking, and a second run (or two at once) finds nothing to do."""
    v = db.vouchers
    now_ms = db.now_ms(conn)
    query = (
        sa.select(v.c.code, v.c.tx_id, v.c.item, v.c.units, v.c.member_id, v.c.points_back)
        .where(v.c.expires_ms <= now_ms, v.c.used_ms.is_(None), v.c.expired_ms.is_(None))
        .order_by(v.c.expires_ms, v.c.code)
        .limit(VOUCHERS_PER_PASS_MAX)
    )
    if "voided_ms" in v.c:  # a refunded redemption's voucher: its points came back already
        query = query.where(v.c.voided_ms.is_(None))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = conn.execute(query).all()
    report = ExpiryReport()
    for start in range(0, len(rows), IN_CLAUSE_ITEMS_MAX):
        progress("vouchers", start, len(rows))
        _expire_chunk(conn, rows[start : start + IN_CLAUSE_ITEMS_MAX], rules, now_ms, report)
    progress("vouchers", len(rows), len(rows))
    if report.expired:
        audit(
            conn,
            EXPIRY_ACTOR,
            "voucher.expire",
            f"{len(report.expired)} vouchers",
            {"codes": report.expired[:100], "points_back": sum(report.points_back.values())},
        )
    return report


def _expire_chunk(
    conn: Connection, rows: Sequence[Any], rules: RuleSet, now_ms: int, report: ExpiryReport
) -> None:
    v = db.vouchers
    codes = [str(row.code) for row in rows]
    conn.execute(v.update().where(v.c.code.in_(codes)).values(expired_ms=now_ms))
    report.expired += codes
    back = [row for row in rows if row.points_back]
    spent = _points_spent(conn, back)
    members = load_members(conn, sorted({int(row.member_id) for row in back}), lock=True)
    journal, booked, restock = Journal(), [], Counter[str]()
    for row in back:
        points, member_id = spent.get(str(row.tx_id), 0), int(row.member_id)
        if points <= 0:
            continue
        transfer = Transfer(
            tx_id=str(new_tx_id(now_ms)),
            kind=TxKind.VOUCHER_EXPIRY,
            member_id=member_id,
            rules_version=rules.version,
            created_ms=now_ms,
            applied_ms=now_ms,
            actor=EXPIRY_ACTOR,
            reason=f"voucher {row.code} expired unused",
            detail=json.dumps({"voucher": row.code, "redeemed": row.tx_id, "points": points}),
        )
        journal.post(transfer, voucher_expiry_legs(member_id, points), members[member_id])
        booked.append((transfer.tx_id, str(row.code)))
        report.points_back[str(row.code)] = points
        restock[str(row.item)] += int(row.units)
    if not booked:
        return
    journal.insert(conn)
    journal.settle(conn, members.values())
    db.bulk_update(conn, v, "code", ["expiry_tx_id"], booked)
    s = db.stock
    for item, units in sorted(restock.items()):  # only a stocked prize has a stock row
        conn.execute(s.update().where(s.c.item == item).values(remaining=s.c.remaining + units))


def _points_spent(conn: Connection, rows: Sequence[Any]) -> dict[str, int]:
    """The points each redemption took from its member (its legs, not the rules today)."""
    if not rows:
        return {}
    lg = db.legs
    accounts = {member_account(int(row.member_id), Asset.POINTS) for row in rows}
    spent = conn.execute(
        sa.select(lg.c.tx_id, sa.func.sum(lg.c.debit) - sa.func.sum(lg.c.credit))
        .where(lg.c.tx_id.in_([str(row.tx_id) for row in rows]), lg.c.account.in_(accounts))
        .group_by(lg.c.tx_id)
    ).all()
    return {str(tx_id): int(points) for tx_id, points in spent}
