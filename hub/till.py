"""The tills' shifts and each branch's daily close (日结), at the hub.

A terminal reports each shift it closes (`CloseShift`, terminal/presenters/shift.py);
`record_shift` keeps it once by its id, with expected (float + cash in - cash out) and
difference worked out here, and checks the till's cash against the hub's own journal:
the cash the hub booked for that device from the shift's open to its close (sales,
top-ups, fees in; refunds paid out), kept as it stood at the report. The day's figures
show each shift's mismatch (the till's net cash less the hub's) as the journal has it
now, beside the one at the report: an intent the device lost stays a mismatch; one a
device booked offline and sent after the close clears it when it arrives.
`day_figures` reads a branch's business day from the journal: the money taken by
tender (cash, stored value, bank card, WeChat Pay, Alipay; net of what went back), the
same by device, and the shifts closed that day with their differences and mismatches.
`close_day` is a manager's sign-off: the figures as they stand are kept
(`day_closes.figures`) and audited; a day is closed once.

After the close the journal may still get transfers dated on that day (an offline till
flushing its queue: the goods were handed over, so the hub books them as ever). They
are not moved to another day; the day's page and `day_report` show the signed figures
beside the journal's current ones, and flag the difference as booked after the close.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from tapcard.domain.authority import business_date, business_day_start_ms
from tapcard.domain.ledger import system_account
from tapcard.domain.model import TENDER_ACCOUNT, Payment, StaffRole, TxKind
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire import staff_messages as sm

# Transfers whose stored-value legs are a tender (the member paid, or was paid back, with
# it); a top-up credits stored value but is paid by another tender, so it is not one.
STORED_VALUE_TENDER_KINDS = (
    TxKind.PURCHASE.value,
    TxKind.SPEND.value,
    TxKind.FEE.value,
    TxKind.RENEWAL.value,
    TxKind.REFUND.value,
)
_TENDER_OF_CODE = {system_account(a): t.value for t, a in TENDER_ACCOUNT.items()}
_STORED = Payment.STORED_VALUE.value
_CASH_ACCOUNT = system_account(TENDER_ACCOUNT[Payment.CASH])


def hub_cash(conn: Connection, device_id: str, opened_ms: int, closed_ms: int) -> tuple[int, int]:
    """(in, out): the cash the hub booked for the device from `opened_ms` to `closed_ms`.
    A transfer's time is the hub's arrival online and the device's own offline (hub_time_ms);
    the device books an online sale only once its result came, so both fall within the
    device's shift up to the clocks' skew."""
    tr, lg = db.transfers, db.legs
    debit, credit = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(lg.c.debit), 0),
            sa.func.coalesce(sa.func.sum(lg.c.credit), 0),
        )
        .select_from(tr.join(lg, lg.c.tx_id == tr.c.tx_id))
        .where(
            tr.c.device_id == device_id,
            tr.c.created_ms >= opened_ms,
            tr.c.created_ms <= closed_ms,
            lg.c.account == _CASH_ACCOUNT,
            lg.c.asset == "cents",
        )
    ).one()
    return int(debit), int(credit)


def record_shift(
    conn: Connection,
    device_id: str,
    branch: str,
    op: sm.CloseShift,
    staff: str,
    now_ms: int,
    zone: str,
) -> dict[str, int]:
    """Record a closed shift once (a report sent again is answered as the first time;
    the same id from another device is refused). Returns expected and difference."""
    t = db.till_shifts
    found = conn.execute(sa.select(t).where(t.c.shift_id == op.shift_id)).first()
    if found is not None:
        if found.device_id != device_id:
            raise ConflictError(f"shift {op.shift_id} was reported by another device")
        return {"expected_cents": found.expected_cents, "difference_cents": found.difference_cents}
    if op.closed_ms < op.opened_ms:
        raise ValidationError("a shift closes after it opens")
    expected = op.float_cents + op.cash_in_cents - op.cash_out_cents
    hub_in, hub_out = hub_cash(conn, device_id, op.opened_ms, op.closed_ms)
    row = {
        "shift_id": op.shift_id,
        "device_id": device_id,
        "branch_id": branch,
        "opened_ms": op.opened_ms,
        "closed_ms": op.closed_ms,
        "opened_by": op.opened_by,
        "closed_by": staff,
        "float_cents": op.float_cents,
        "cash_in_cents": op.cash_in_cents,
        "cash_out_cents": op.cash_out_cents,
        "expected_cents": expected,
        "counted_cents": op.counted_cents,
        "difference_cents": op.counted_cents - expected,
        "recorded_ms": now_ms,
        # The hub's day of the report: a device's clock says when, never which day.
        "business_date": business_date(now_ms, zone),
        "hub_cash_in_cents": hub_in,
        "hub_cash_out_cents": hub_out,
    }
    conn.execute(db.till_shifts.insert().values(**row))
    shown = ("device_id", "expected_cents", "counted_cents", "difference_cents")
    detail = {k: row[k] for k in shown} | {"mismatch_cents": _mismatch(row, hub_in, hub_out)}
    audit(conn, f"staff:{staff}@{device_id}", "shift.close", op.shift_id, detail)
    return {"expected_cents": expected, "difference_cents": op.counted_cents - expected}


@dataclass(frozen=True, slots=True)
class DayFigures:
    branch: str
    day: dt.date
    by_tender: dict[str, int]  # cents taken net of money given back, per tender
    by_device: dict[str, dict[str, int]]  # the same per device ("" booked at HQ)
    shifts: list[dict[str, Any]]
    transfers: int

    @property
    def difference_cents(self) -> int:
        return sum(int(s["difference_cents"]) for s in self.shifts)

    @property
    def mismatch_cents(self) -> int:
        """The tills' net cash less the hub's, over the day's shifts, as booked now."""
        return sum(int(s["mismatch_cents"]) for s in self.shifts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "day": self.day.isoformat(),
            "by_tender": self.by_tender,
            "by_device": self.by_device,
            "shifts": self.shifts,
            "difference_cents": self.difference_cents,
            "mismatch_cents": self.mismatch_cents,
            "transfers": self.transfers,
        }


def day_figures(conn: Connection, branch: str, day: dt.date, zone: str) -> DayFigures:
    """The day's figures from the journal: the money legs of each tender's account."""
    start = business_day_start_ms(day, zone)
    end = business_day_start_ms(day + dt.timedelta(days=1), zone)
    tr, lg = db.transfers, db.legs
    in_day = sa.and_(tr.c.branch_id == branch, tr.c.created_ms >= start, tr.c.created_ms < end)
    rows = conn.execute(
        sa.select(tr.c.device_id, tr.c.kind, lg.c.account, lg.c.debit, lg.c.credit)
        .select_from(tr.join(lg, lg.c.tx_id == tr.c.tx_id))
        .where(in_day, lg.c.asset == "cents")
    ).all()
    by_tender: dict[str, int] = {}
    by_device: dict[str, dict[str, int]] = {}
    for row in rows:
        tender = _tender_of(row.account, row.kind)
        if tender is None:
            continue
        cents = int(row.debit) - int(row.credit)
        by_tender[tender] = by_tender.get(tender, 0) + cents
        mine = by_device.setdefault(row.device_id or "", {})
        mine[tender] = mine.get(tender, 0) + cents
    count = conn.execute(sa.select(sa.func.count()).select_from(tr).where(in_day)).scalar_one()
    return DayFigures(branch, day, by_tender, by_device, _shifts(conn, branch, day), int(count))


def _tender_of(account: str, kind: str) -> str | None:
    tender = _TENDER_OF_CODE.get(account)
    if tender is not None:
        return tender
    if account.startswith("m:") and kind in STORED_VALUE_TENDER_KINDS:
        return _STORED
    return None


def _shifts(conn: Connection, branch: str, day: dt.date) -> list[dict[str, Any]]:
    """The day's shifts with the hub's cash for each: now, and at the report."""
    t = db.till_shifts
    rows = conn.execute(
        sa.select(t)
        .where(t.c.branch_id == branch, t.c.business_date == day)
        .order_by(t.c.device_id, t.c.closed_ms)
    ).all()
    keys = ("shift_id", "device_id", "opened_ms", "closed_ms", "opened_by", "float_cents")
    more = ("cash_in_cents", "cash_out_cents", "expected_cents", "counted_cents")
    out = []
    for r in rows:
        shift = {k: getattr(r, k) for k in (*keys, *more, "difference_cents")}
        hub_in, hub_out = hub_cash(conn, r.device_id, r.opened_ms, r.closed_ms)
        at_report = None
        if r.hub_cash_in_cents is not None:  # NULL: reported before the check
            at_report = _mismatch(shift, r.hub_cash_in_cents, r.hub_cash_out_cents)
        shift |= {
            "hub_cash_in_cents": hub_in,
            "hub_cash_out_cents": hub_out,
            "mismatch_cents": _mismatch(shift, hub_in, hub_out),
            "mismatch_at_report_cents": at_report,
        }
        out.append(shift)
    return out


def _mismatch(shift: dict[str, Any], hub_in: int, hub_out: int) -> int:
    """The till's net cash less the hub's: > 0 the till took cash the hub has not booked
    (an intent lost, or not arrived yet), < 0 the hub booked cash the till did not count."""
    return int(shift["cash_in_cents"]) - int(shift["cash_out_cents"]) - (hub_in - hub_out)


def close_day(
    conn: Connection,
    branch: str,
    day: dt.date,
    manager: str,
    zone: str,
    now_ms: int,
    web_actor: str = "",
) -> DayFigures:
    """A manager signs the branch's day off: its figures are kept as they stand.
    `manager` is the staff id of an active manager of the branch; or, with `web_actor`,
    the dashboard user whose manager or admin role for the branch the page checked."""
    if not web_actor:
        _check_manager(conn, manager, branch)
    if closed(conn, branch, day) is not None:
        raise ConflictError(f"{day} at {branch} is closed already")
    if day > business_date(now_ms, zone):
        raise ValidationError(f"{day} has not come yet")
    figures = day_figures(conn, branch, day, zone)
    conn.execute(
        db.day_closes.insert().values(
            branch_id=branch,
            business_date=day,
            closed_ms=now_ms,
            manager=manager,
            figures=msgspec.json.encode(figures.to_dict()).decode(),
        )
    )
    actor = web_actor or f"manager:{manager}"
    audit(conn, actor, "day.close", f"{branch}/{day}", figures.to_dict())
    return figures


def _check_manager(conn: Connection, manager: str, branch: str) -> None:
    staff = conn.execute(sa.select(db.staff).where(db.staff.c.id == manager)).first()
    if staff is None or not staff.active or staff.role != StaffRole.MANAGER:
        raise ValidationError(f"{manager} is not an active manager")
    if staff.branch_id != branch:
        raise ValidationError(f"{manager} is a manager of {staff.branch_id}, not of {branch}")


@dataclass(frozen=True, slots=True)
class Closed:
    manager: str
    closed_ms: int
    figures: dict[str, Any]


def closed(conn: Connection, branch: str, day: dt.date) -> Closed | None:
    c = db.day_closes
    row = conn.execute(
        sa.select(c).where(c.c.branch_id == branch, c.c.business_date == day)
    ).first()
    if row is None:
        return None
    return Closed(row.manager, int(row.closed_ms), msgspec.json.decode(row.figures))


def day_report(conn: Connection, branch: str, day: dt.date, zone: str) -> dict[str, Any]:
    """The day as the page and the CLI show it: the journal's figures now, and when it
    is closed who signed it, when, and what was booked on it after the close."""
    if conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch)).first() is None:
        raise NotFoundError(f"no branch {branch}")
    now = day_figures(conn, branch, day, zone).to_dict()
    done = closed(conn, branch, day)
    report: dict[str, Any] = {**now, "closed": done is not None}
    if done is not None:
        signed = done.figures["by_tender"]
        report |= {
            "closed_by": done.manager,
            "closed_ms": done.closed_ms,
            "signed_by_tender": signed,
            # None: signed before the hub checked the tills' cash
            "signed_mismatch_cents": done.figures.get("mismatch_cents"),
            "after_close": {
                t: now["by_tender"].get(t, 0) - signed.get(t, 0)
                for t in sorted(set(signed) | set(now["by_tender"]))
                if now["by_tender"].get(t, 0) != signed.get(t, 0)
            },
        }
    return report
