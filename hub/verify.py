"""`tapcard hub verify`: re-sum the whole journal and prove the ledger's invariants.

A validator in beancount's style: it returns the list of problems instead of raising,
and it cannot be skipped by configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, member_days
from hub.posting import SYSTEM_ACCOUNT_PREFIX, balances
from hub.progress import Progress, no_progress


@dataclass(slots=True)
class VerifyReport:
    transfers: int = 0
    legs: int = 0
    accounts: int = 0
    results: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)  # errors and warnings by check

    @property
    def ok(self) -> bool:
        return not self.errors


def verify_ledger(conn: Connection, progress: Progress = no_progress) -> VerifyReport:
    """Every check, in order, reporting each as a step of `progress`; the problems
    counted by kind (the check that found them) in `report.problems`."""
    report = VerifyReport()
    progress("counting", 0, len(CHECKS) + 1)
    report.transfers = int(
        conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one()
    )
    report.legs = int(conn.execute(sa.select(sa.func.count()).select_from(db.legs)).scalar_one())
    report.results = int(
        conn.execute(sa.select(sa.func.count()).select_from(db.results)).scalar_one()
    )
    report.accounts = int(
        conn.execute(sa.select(sa.func.count()).select_from(db.accounts)).scalar_one()
    )
    for step, (kind, check) in enumerate(CHECKS, start=1):
        progress(kind, step, len(CHECKS) + 1)
        found = len(report.errors) + len(report.warnings)
        check(conn, report)
        if added := len(report.errors) + len(report.warnings) - found:
            report.problems[kind] = report.problems.get(kind, 0) + added
    progress("done", len(CHECKS) + 1, len(CHECKS) + 1)
    return report


_POINTS_OVER_BUCKETS_SQL = """
SELECT a.member_id, a.balance - COALESCE(SUM(b.points), 0)
FROM accounts a LEFT JOIN point_buckets b ON b.member_id = a.member_id
WHERE a.asset = 'points' AND a.member_id IS NOT NULL AND a.balance > 0
GROUP BY a.member_id, a.balance HAVING a.balance > COALESCE(SUM(b.points), 0)
"""


def _check_point_buckets(conn: Connection, report: VerifyReport) -> None:
    """Every point a member holds was credited into an expiry bucket, and booked expiry
    deletes only buckets with nothing left: a balance above its buckets' sum would lapse
    at the next expiry run (hub/point_buckets.py)."""
    over = conn.execute(sa.text(_POINTS_OVER_BUCKETS_SQL)).all()
    report.errors += [
        f"member {member}: {excess} points held beyond the expiry buckets"
        for member, excess in over[:20]
    ]


def _check_daily_totals(conn: Connection, report: VerifyReport) -> None:
    """The per-day summary the reports read must equal the journal it summarises."""
    legs, t, d = db.legs, db.transfers, db.daily_totals
    day = t.c.created_ms // db.DAY_MS  # floor division on both databases, as the ledger
    branch = sa.func.coalesce(t.c.branch_id, "")
    journal = {
        (int(dd), b, a): (int(de), int(cr), int(n))
        for dd, b, a, de, cr, n in conn.execute(
            sa.select(
                day,
                branch,
                legs.c.account,
                sa.func.sum(legs.c.debit),
                sa.func.sum(legs.c.credit),
                sa.func.count(),
            )
            .select_from(legs.join(t, t.c.tx_id == legs.c.tx_id))
            .group_by(day, branch, legs.c.account)
        )
    }
    summary = {
        (int(dd), b, a): (int(de), int(cr), int(n))
        for dd, b, a, de, cr, n in conn.execute(
            sa.select(  # the shards of one day, branch and account together
                d.c.day,
                d.c.branch_id,
                d.c.account,
                sa.func.sum(d.c.debit),
                sa.func.sum(d.c.credit),
                sa.func.sum(d.c.legs),
            ).group_by(d.c.day, d.c.branch_id, d.c.account)
        )
    }
    wrong = sorted(k for k in journal.keys() | summary.keys() if journal.get(k) != summary.get(k))
    report.errors += [
        f"daily totals for day {k[0]} branch {k[1] or 'hq'} {k[2]}: "
        f"{summary.get(k)} but the journal sums to {journal.get(k)}"
        for k in wrong[:10]
    ]


def _check_member_days(conn: Connection, report: VerifyReport) -> None:
    """Top members' per-member summary must equal the journal (hub/member_days.py)."""
    report.errors += member_days.problems(conn)


def _check_transfers_balance(conn: Connection, report: VerifyReport) -> None:
    legs = db.legs
    rows = conn.execute(
        sa.select(
            legs.c.tx_id, legs.c.asset, sa.func.sum(legs.c.credit) - sa.func.sum(legs.c.debit)
        )
        .group_by(legs.c.tx_id, legs.c.asset)
        .having(sa.func.sum(legs.c.credit) != sa.func.sum(legs.c.debit))
    ).all()
    report.errors += [
        f"transfer {tx} does not balance in {asset}: {total}" for tx, asset, total in rows
    ]


def _check_assets_sum_to_zero(conn: Connection, report: VerifyReport) -> None:
    legs = db.legs
    rows = conn.execute(
        sa.select(legs.c.asset, sa.func.sum(legs.c.credit) - sa.func.sum(legs.c.debit)).group_by(
            legs.c.asset
        )
    ).all()
    report.errors += [f"{asset} does not sum to zero: {total}" for asset, total in rows if total]


def _check_account_balances(conn: Connection, report: VerifyReport) -> None:
    """A member's row, and a system account's sum of daily totals, against its legs;
    a system account's own row holds 0 (hub/posting.py: its balance is derived)."""
    legs, accounts = db.legs, db.accounts
    total = (sa.func.sum(legs.c.credit) - sa.func.sum(legs.c.debit)).label("total")
    sums = sa.select(legs.c.account, total).group_by(legs.c.account).subquery()
    rows = conn.execute(
        sa.select(accounts.c.code, accounts.c.balance, sa.func.coalesce(sums.c.total, 0))
        .select_from(accounts.outerjoin(sums, sums.c.account == accounts.c.code))
        .where(accounts.c.member_id.is_not(None))
        .where(accounts.c.balance != sa.func.coalesce(sums.c.total, 0))
    ).all()
    report.errors += [
        f"account {code} holds {balance} but its legs sum to {total}"
        for code, balance, total in rows
    ]
    system = accounts.c.code.startswith(SYSTEM_ACCOUNT_PREFIX)
    stored = conn.execute(sa.select(accounts.c.code, accounts.c.balance).where(system)).all()
    report.errors += [f"system account {c} holds {b} on its own row" for c, b in stored if b]
    derived = balances(conn, [code for code, _ in stored])
    in_journal = sa.select(sums.c.account, sums.c.total).where(
        sums.c.account.startswith(SYSTEM_ACCOUNT_PREFIX)
    )
    journal = {str(code): total for code, total in conn.execute(in_journal)}
    report.errors += [
        f"account {code} sums to {derived.get(code, 0)} but its legs sum to {journal.get(code, 0)}"
        for code, _ in stored
        if derived.get(code, 0) != int(journal.get(code) or 0)
    ]
    orphans = (
        conn.execute(
            sa.select(legs.c.account)
            .where(legs.c.account.not_in(sa.select(accounts.c.code)))
            .limit(10)
        )
        .scalars()
        .all()
    )
    report.errors += [f"legs on unknown account {code}" for code in orphans]


def _check_results_match_transfers(conn: Connection, report: VerifyReport) -> None:
    r, t = db.results, db.transfers
    missing = (
        conn.execute(
            sa.select(r.c.tx_id)
            .where(r.c.accepted.is_(True), r.c.tx_id.not_in(sa.select(t.c.tx_id)))
            .limit(10)
        )
        .scalars()
        .all()
    )
    report.errors += [f"accepted result {tx} has no transfer" for tx in missing]
    unanswered = (
        conn.execute(
            sa.select(t.c.tx_id)
            .where(t.c.device_id.is_not(None), t.c.tx_id.not_in(sa.select(r.c.tx_id)))
            .limit(10)
        )
        .scalars()
        .all()
    )
    report.errors += [f"device transfer {tx} has no stored result" for tx in unanswered]


def _check_one_sided_legs(conn: Connection, report: VerifyReport) -> None:
    legs = db.legs
    bad = conn.execute(
        sa.select(sa.func.count())
        .select_from(legs)
        .where(
            sa.not_(
                sa.or_(
                    sa.and_(legs.c.debit > 0, legs.c.credit == 0),
                    sa.and_(legs.c.debit == 0, legs.c.credit > 0),
                )
            )
        )
    ).scalar_one()
    if bad:
        report.errors.append(f"{bad} legs are not one-sided")


def _warn_negative_balances(conn: Connection, report: VerifyReport) -> None:
    accounts, exc = db.accounts, db.exceptions
    rows = conn.execute(
        sa.select(accounts.c.code, accounts.c.balance, accounts.c.member_id).where(
            accounts.c.member_id.is_not(None), accounts.c.balance < 0
        )
    ).all()
    for code, balance, member_id in rows:
        recorded = conn.execute(
            sa.select(sa.func.count()).select_from(exc).where(exc.c.member_id == member_id)
        ).scalar_one()
        message = f"account {code} is negative ({balance})"
        if recorded:
            report.warnings.append(message + f", explained by {recorded} offline exception(s)")
        else:
            report.errors.append(message + " with no offline exception recorded")


Check = Callable[[Connection, VerifyReport], None]
# Each check by the kind of problem it finds, in the order they run.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("transfers that do not balance", _check_transfers_balance),
    ("assets that do not sum to zero", _check_assets_sum_to_zero),
    ("balances that differ from their legs", _check_account_balances),
    ("results and transfers that do not match", _check_results_match_transfers),
    ("legs that are not one-sided", _check_one_sided_legs),
    ("negative member balances", _warn_negative_balances),
    ("daily totals that differ from the journal", _check_daily_totals),
    ("points beyond their expiry buckets", _check_point_buckets),
    ("member spend per day that differs from the journal", _check_member_days),
)
