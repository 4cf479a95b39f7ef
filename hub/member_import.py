"""`tapcard hub import`: members, their pre-printed cards, balances, points and tiers
moved in from a legacy 会员系统 (the file is read by hub/member_file.py).

Two passes over the file. The check refuses, each with its line number: a row that
does not parse, a phone, card number or ID number given twice in the file or already
held by a member or card here, a tier the rules do not have (`tier_map` maps the legacy
names), an unknown branch, a balance above what the stored-value policy lets the card
hold. Nothing is written unless every row passed (or `skip_bad` says to leave the bad
ones out). The writes are one database transaction: a failure half-way, a kill or a
full disk leaves the database as it was, and running the import again is safe.

Each member with a balance or points gets one opening transfer (TxKind.OPENING, the
importing actor, the file's digest as its reason): stored value from
s:opening_balances (what the chain took over from the legacy system and owes its
members) and points from s:points_issued, through the Journal like every other
transfer, so `verify`, the liability report and the points' expiry buckets (as if
earned on the import day: the legacy system's earning dates are not known) see them.
At the end the booked totals are read back from the journal and compared with the
file's: the import fails, and rolls back, if they differ.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.duplicates import keys_of
from hub.member_file import MemberRow, RowError, member_rows
from hub.posting import Journal, Transfer, insert_rows
from hub.privacy_keys import sealed_person
from hub.progress import Progress, no_progress
from tapcard.domain import engine as rules_engine
from tapcard.domain import profile
from tapcard.domain.authority import stored_value_policy
from tapcard.domain.ledger import Leg, member_account, system_account
from tapcard.domain.model import (
    Asset,
    CardKind,
    CardState,
    MemberStatus,
    SystemAccount,
    TxKind,
    mask_id_number,
)
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, ValidationError
from tapcard.wire.ids import new_tx_id

CHUNK_ROWS: Final = 2_000  # rows checked against the database, or written, at a time
REFUSALS_KEPT_MAX: Final = 100  # refusals listed in the report (all are counted)
DIGEST_SHOWN_CHARS: Final = 16
OPENING_ACCOUNT: Final = system_account(SystemAccount.OPENING_BALANCES)
POINTS_ACCOUNT: Final = system_account(SystemAccount.POINTS_ISSUED)

IdHash = Callable[[str], str]  # the hub's keyed hash of an ID number (hub.secrets)


@dataclass(slots=True)
class ImportReport:
    """What an import found, and did; the same for a dry run, with `written` False."""

    file: str
    digest: str
    rows: int = 0
    members: int = 0
    cards: int = 0
    balance_cents: int = 0
    points: int = 0
    transfers: int = 0
    refused_count: int = 0
    refused: list[str] = field(default_factory=list)
    written: bool = False

    def refuse(self, error: RowError | str) -> None:
        self.refused_count += 1
        if len(self.refused) < REFUSALS_KEPT_MAX:
            self.refused.append(str(error))


@dataclass(frozen=True, slots=True)
class _Context:
    rules: RuleSet
    today: dt.date
    id_hash: IdHash
    tiers: Mapping[str, str]  # lower-case name in the file -> tier of the rules
    branches: frozenset[str]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _context(
    conn: Connection, rules: RuleSet, id_hash: IdHash, tier_map: Mapping[str, str]
) -> _Context:
    names = {t.name.lower(): t.name for t in rules.tiers}
    tiers = dict(names)
    for legacy, ours in tier_map.items():
        if ours.lower() not in names:
            raise ValidationError(f"tier map: {ours!r} is not a tier ({', '.join(names.values())})")
        tiers[legacy.strip().lower()] = names[ours.lower()]
    branches = frozenset(conn.execute(sa.select(db.branches.c.id)).scalars())
    return _Context(rules, db.today_at(conn), id_hash, tiers, branches)


def _row_problem(row: MemberRow, ctx: _Context) -> str:
    """What the rules or the day refuse in one row ("" if nothing)."""
    if row.tier and row.tier.lower() not in ctx.tiers:
        ours = ", ".join(sorted(set(ctx.tiers.values())))
        return f"tier {row.tier!r} is not one of the rules' ({ours}); map it with --tier"
    if row.branch and row.branch not in ctx.branches:
        return f"branch {row.branch!r} does not exist"
    policy = stored_value_policy(ctx.rules)
    cap = policy.real_name_card_cents_max if row.id_number else policy.card_cents_max
    if row.balance_cents > cap:
        return (
            f"a balance of {row.balance_cents / 100:,.2f} yuan is above the "
            f"{cap / 100:,.2f} yuan this card may hold"
        )
    for day, what in ((row.birthday, "birthday"), (row.joined_on, "joining date")):
        if day is not None and day > ctx.today:
            return f"the {what} {day} is after today"
    if row.balance_cents and not row.card_id:
        return "a balance needs a card number to hold it"
    return profile.birthday_error(row.birthday, ctx.today)


@dataclass(slots=True)
class _Seen:
    """Keys met so far in the file, to refuse one given twice."""

    phones: set[str] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)

    def twice(self, row: MemberRow, id_key: str) -> str:
        phone = profile.phone_key(row.phone)
        for value, seen, what in (
            (phone, self.phones, "phone"),
            (row.card_id, self.cards, "card number"),
            (id_key, self.ids, "ID number"),
        ):
            if value and value in seen:
                return f"the {what} is given twice in the file"
        for value, seen in ((phone, self.phones), (row.card_id, self.cards), (id_key, self.ids)):
            if value:
                seen.add(value)
        return ""


def _held(conn: Connection, rows: Sequence[tuple[MemberRow, str]]) -> dict[int, str]:
    """Line -> why, for rows whose phone, card or ID number is already here."""
    m, c = db.members, db.cards
    phone_of = {keys_of(r.phone, "")[0]: r.line for r, _ in rows}
    card_of = {r.card_id: r.line for r, _ in rows if r.card_id}
    id_of = {key: r.line for r, key in rows if key}
    found: dict[int, str] = {}
    for column, by_value, what in (
        (m.c.phone_key, phone_of, "a member here has this phone"),
        (c.c.id, card_of, "a card here has this number"),
        (m.c.id_number_key, id_of, "a member here has this ID number"),
    ):
        if by_value:
            for value in conn.execute(
                sa.select(column).where(column.in_(list(by_value)))
            ).scalars():
                found.setdefault(by_value[value], what)
    return found


def _checked(
    conn: Connection, path: Path, ctx: _Context, report: ImportReport, progress: Progress
) -> Iterator[tuple[MemberRow, str]]:
    """Pass over the file: every good row with its ID key; the bad ones into `report`,
    in the file's order (a chunk's rows are checked against the database together)."""
    seen = _Seen()
    chunk: list[tuple[MemberRow, str] | str] = []  # a row with its ID key, or a refusal

    def flush() -> Iterator[tuple[MemberRow, str]]:
        held = _held(conn, [item for item in chunk if not isinstance(item, str)])
        for item in chunk:
            if isinstance(item, str):
                report.refuse(item)
            elif item[0].line in held:
                report.refuse(f"line {item[0].line}: {held[item[0].line]}")
            else:
                yield item
        chunk.clear()
        progress("checked", report.rows, 0)

    for parsed in member_rows(path):
        report.rows += 1
        if isinstance(parsed, RowError):
            chunk.append(str(parsed))
        else:
            key = ctx.id_hash(parsed.id_number) if parsed.id_number else ""
            problem = _row_problem(parsed, ctx) or seen.twice(parsed, key)
            chunk.append(f"line {parsed.line}: {problem}" if problem else (parsed, key))
        if len(chunk) >= CHUNK_ROWS:
            yield from flush()
    yield from flush()


def check_file(
    conn: Connection,
    path: Path,
    rules: RuleSet,
    id_hash: IdHash,
    tier_map: Mapping[str, str] | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """The dry run: what the import would do, and every refusal; nothing is written."""
    return _check(conn, path, _context(conn, rules, id_hash, tier_map or {}), progress)[0]


def _check(
    conn: Connection, path: Path, ctx: _Context, progress: Progress
) -> tuple[ImportReport, set[int]]:
    """The report of the check pass, and the lines it passed."""
    report, good = ImportReport(path.name, file_digest(path)), set()
    for row, _key in _checked(conn, path, ctx, report, progress):
        _count(report, row)
        good.add(row.line)
    return report, good


def _count(report: ImportReport, row: MemberRow) -> None:
    report.members += 1
    report.cards += bool(row.card_id)
    report.balance_cents += row.balance_cents
    report.points += row.points
    report.transfers += bool(row.balance_cents or row.points)


def import_file(
    conn: Connection,
    path: Path,
    rules: RuleSet,
    id_hash: IdHash,
    actor: str,
    *,
    tier_map: Mapping[str, str] | None = None,
    skip_bad: bool = False,
    progress: Progress = no_progress,
) -> ImportReport:
    """Check the file, then (if it passed, or `skip_bad`) write the rows that passed, in
    this transaction; the write pass parses them again rather than hold them all."""
    ctx = _context(conn, rules, id_hash, tier_map or {})
    planned, good = _check(conn, path, ctx, progress)
    if planned.refused_count and not skip_bad:
        return planned
    report = ImportReport(path.name, planned.digest, rows=planned.rows)
    report.refused, report.refused_count = planned.refused, planned.refused_count
    reason = f"import {planned.digest[:DIGEST_SHOWN_CHARS]}"
    batch: list[tuple[MemberRow, str]] = []
    for row in member_rows(path):
        if isinstance(row, RowError) or row.line not in good:
            continue
        _count(report, row)
        batch.append((row, ctx.id_hash(row.id_number) if row.id_number else ""))
        if len(batch) >= CHUNK_ROWS:
            _write(conn, batch, ctx, actor, reason)
            batch.clear()
            progress("imported", report.members, planned.members)
    _write(conn, batch, ctx, actor, reason)
    progress("imported", report.members, planned.members)
    _reconcile(conn, reason, report)
    audit(conn, actor, "member.import", path.name, _audit_detail(report))
    report.written = True
    return report


def _audit_detail(report: ImportReport) -> dict[str, object]:
    return {
        "digest": report.digest,
        "members": report.members,
        "cards": report.cards,
        "balance_cents": report.balance_cents,
        "points": report.points,
        "refused": report.refused_count,
    }


@dataclass(frozen=True, slots=True)
class _NewMember:
    """A member row just inserted: `Journal.post`'s view of it. Its accounts are
    written with their opening balances by `_write`, so posting moves nothing here."""

    id: int

    def owns(self, account: str) -> bool:
        return account.startswith(f"m:{self.id}:")

    def apply_legs(self, legs: Sequence[Leg]) -> None:
        return None


def _member_values(row: MemberRow, key: str, ctx: _Context) -> dict[str, object]:
    joined = row.joined_on or ctx.today
    phone_key, id_key = keys_of(row.phone, key)
    return {
        **sealed_person(row.name, row.phone, row.address),  # the bulk INSERT skips Sealed
        "id_number_masked": mask_id_number(row.id_number) if key else "",
        "id_number_hash": key,
        "phone_key": phone_key,
        "id_number_key": id_key,
        "birthday": row.birthday,
        "branch_id": row.branch or None,
        "tier": ctx.tiers[row.tier.lower()] if row.tier else ctx.rules.tiers[0].name,
        "joined_on": joined,
        "period_start": ctx.today,
        "period_growth": 0,
        "last_activity_on": joined,
        "state": MemberStatus.ACTIVE.value,
    }


def _write(
    conn: Connection, batch: Sequence[tuple[MemberRow, str]], ctx: _Context, actor: str, reason: str
) -> None:
    if not batch:
        return
    ids = _reserve_ids(conn, len(batch))
    db.bulk_insert(
        conn,
        db.members,
        [
            {"id": i, **_member_values(row, key, ctx)}
            for (row, key), i in zip(batch, ids, strict=True)
        ],
    )
    now_ms = db.now_ms(conn)
    accounts, tags, cards = [], [], []
    journal = Journal()
    for (row, _key), member_id in zip(batch, ids, strict=True):
        opening = {Asset.CENTS: row.balance_cents, Asset.POINTS: row.points}
        for asset in Asset:
            accounts.append(
                (member_account(member_id, asset), asset.value, member_id, opening.get(asset, 0))
            )
        tags += [(member_id, tag) for tag in row.tags]
        if row.card_id:
            expires = row.expires_on or rules_engine.card_expires_on(ctx.rules, ctx.today)
            cards.append(
                (
                    row.card_id,
                    member_id,
                    CardKind.MEMBER.value,
                    CardState.ACTIVE.value,
                    "",
                    ctx.today,
                    expires,
                    now_ms,
                )
            )
        legs = _opening_legs(member_id, row)
        if legs:
            transfer = Transfer(
                tx_id=str(new_tx_id(now_ms)),
                kind=TxKind.OPENING,
                member_id=member_id,
                rules_version=ctx.rules.version,
                created_ms=now_ms,
                applied_ms=now_ms,
                card_id=row.card_id or None,
                branch_id=row.branch or None,
                actor=actor,
                reason=reason,
                detail=msgspec.json.encode({"line": row.line}).decode(),
            )
            journal.post(transfer, legs, _NewMember(member_id))
    insert_rows(conn, db.accounts, ("code", "asset", "member_id", "balance"), accounts)
    insert_rows(conn, db.member_tags, ("member_id", "tag"), tags)
    insert_rows(
        conn,
        db.cards,
        ("id", "member_id", "kind", "state", "uid", "issued_on", "expires_on", "state_ms"),
        cards,
    )
    journal.insert(conn)
    journal.settle(conn, ())


def _reserve_ids(conn: Connection, n: int) -> list[int]:
    """n member ids no one else takes: from the sequence on PostgreSQL (registrations may
    run beside the import), past the highest on SQLite (the import's transaction holds
    the one write lock from its BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        return [
            int(i)
            for i in conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('members', 'id'))"
                " FROM generate_series(1, %(n)s)",
                {"n": n},
            ).scalars()
        ]
    top = int(conn.execute(sa.select(sa.func.max(db.members.c.id))).scalar() or 0)
    return list(range(top + 1, top + 1 + n))


def _opening_legs(member_id: int, row: MemberRow) -> list[Leg]:
    legs = []
    if row.balance_cents:
        legs += [
            Leg(OPENING_ACCOUNT, Asset.CENTS, debit=row.balance_cents),
            Leg(member_account(member_id, Asset.CENTS), Asset.CENTS, credit=row.balance_cents),
        ]
    if row.points:
        legs += [
            Leg(POINTS_ACCOUNT, Asset.POINTS, debit=row.points),
            Leg(member_account(member_id, Asset.POINTS), Asset.POINTS, credit=row.points),
        ]
    return legs


def _reconcile(conn: Connection, reason: str, report: ImportReport) -> None:
    """The journal's opening transfers of this import against the file's totals."""
    t, legs = db.transfers, db.legs
    booked = dict(
        conn.execute(
            sa.select(legs.c.asset, sa.func.sum(legs.c.credit))
            .select_from(legs.join(t, t.c.tx_id == legs.c.tx_id))
            .where(t.c.kind == TxKind.OPENING.value, t.c.reason == reason)
            .where(legs.c.account.like("m:%"))
            .group_by(legs.c.asset)
        ).all()
    )
    count = conn.execute(
        sa.select(sa.func.count()).where(t.c.kind == TxKind.OPENING.value, t.c.reason == reason)
    ).scalar_one()
    want = {Asset.CENTS.value: report.balance_cents, Asset.POINTS.value: report.points}
    got = {asset: int(booked.get(asset) or 0) for asset in want}
    if got != want or count != report.transfers:
        raise ConflictError(
            f"the import does not reconcile: booked {got} in {count} transfers, the file "
            f"holds {want} in {report.transfers}; nothing was imported"
        )
