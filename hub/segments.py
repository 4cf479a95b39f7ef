"""Segments (issue 17): members picked by rules kept as data, evaluated at the hub in SQL.

A segment's rules (`SegmentRules`) are all optional and all must hold: tags (any of,
all of), tier, home branch, net spend and visits (orders) over a window of days from
member_days (the M and F of RFM), days since the last visit (R), birthday month, age
band, card kind, marketing consent on a channel, and RFM scores (`r_min` .. `m_max`,
quintiles 1-5 over the window, see `_rfm`). `query` turns them into one SELECT
of member ids: the database does the work, never Python per member, so a preview is a
COUNT and a refresh is one INSERT ... SELECT into segment_members (hub/segments_schema.py)
inside the caller's transaction. Only active members are ever in a segment.

The hold-out (`held_out`) is a stable hash of member id and campaign code, so the same
members of a segment stay in the control group whatever day or process asks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from tapcard.domain.model import CardKind
from tapcard.errors import ValidationError

CODE_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
WINDOW_DAYS_MAX: Final = 3660
AGE_YEARS_MAX: Final = 150
CONSENT_CHANNELS: Final = ("email", "sms", "wechat")
PERCENT_BASIS: Final = 10_000  # hold-out buckets: hundredths of a percent
RFM_SCORES: Final = 5  # quintiles


class SegmentRules(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a member must match; an empty rule set is every active member."""

    tags_any: list[str] = []
    tags_all: list[str] = []
    tiers: list[str] = []
    branches: list[str] = []
    window_days: int = 90  # spend and visits are counted over the last this many days
    spend_min_cents: int | None = None
    spend_max_cents: int | None = None
    visits_min: int | None = None
    visits_max: int | None = None
    visited_within_days: int | None = None  # recency: a visit in the last N days
    lapsed_days: int | None = None  # no visit in the last N days
    birthday_month: int | None = None  # 1..12
    age_min_years: int | None = None
    age_max_years: int | None = None
    card_kinds: list[str] = []  # an active card of one of these kinds
    consent_channel: str | None = None  # latest marketing decision on it is yes
    # RFM quintile scores 1-5 over the window (5: most recent, most visits, most spend);
    # a member without a visit in the window has no scores and matches no RFM bound.
    r_min: int | None = None
    r_max: int | None = None
    f_min: int | None = None
    f_max: int | None = None
    m_min: int | None = None
    m_max: int | None = None

    def uses_rfm(self) -> bool:
        bounds = (self.r_min, self.r_max, self.f_min, self.f_max, self.m_min, self.m_max)
        return any(v is not None for v in bounds)


def _check_range(name: str, low: int | None, high: int | None, top: int | None = None) -> None:
    for v in (low, high):
        if v is not None and (v < 0 or (top is not None and v > top)):
            raise ValidationError(f"{name} must be between 0 and {top or 'more'}, not {v}")
    if low is not None and high is not None and low > high:
        raise ValidationError(f"{name}: the least ({low}) is above the most ({high})")


def check(rules: SegmentRules) -> SegmentRules:
    """The rules, or a ValidationError saying which one is wrong."""
    if not 1 <= rules.window_days <= WINDOW_DAYS_MAX:
        raise ValidationError(f"window_days must be 1..{WINDOW_DAYS_MAX}")
    _check_range("spend_cents", rules.spend_min_cents, rules.spend_max_cents)
    _check_range("visits", rules.visits_min, rules.visits_max)
    _check_range("age_years", rules.age_min_years, rules.age_max_years, AGE_YEARS_MAX)
    for letter in "rfm":
        low, high = getattr(rules, f"{letter}_min"), getattr(rules, f"{letter}_max")
        _check_range(f"{letter} score", low, high, RFM_SCORES)
        if 0 in (low, high):
            raise ValidationError(f"{letter} score must be between 1 and {RFM_SCORES}, not 0")
    for name in ("visited_within_days", "lapsed_days"):
        days = getattr(rules, name)
        if days is not None and not 1 <= days <= WINDOW_DAYS_MAX:
            raise ValidationError(f"{name} must be 1..{WINDOW_DAYS_MAX}")
    if rules.birthday_month is not None and not 1 <= rules.birthday_month <= 12:
        raise ValidationError("birthday_month must be 1..12")
    kinds = {k.value for k in CardKind}
    for kind in rules.card_kinds:
        if kind not in kinds:
            raise ValidationError(f"unknown card kind {kind!r}: {', '.join(sorted(kinds))}")
    if rules.consent_channel is not None and rules.consent_channel not in CONSENT_CHANNELS:
        raise ValidationError(f"consent_channel is one of {', '.join(CONSENT_CHANNELS)}")
    return rules


def parse(text: str | bytes) -> SegmentRules:
    """Rules from JSON, checked; a clear error for bad JSON or an unknown rule."""
    try:
        return check(msgspec.json.decode(text, type=SegmentRules))
    except msgspec.ValidationError as exc:
        raise ValidationError(f"segment rules: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValidationError(f"segment rules are not JSON: {exc}") from exc


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _window(rules: SegmentRules, today: dt.date) -> sa.Subquery:
    """Per member: net spend and orders over the window (members with none are absent)."""
    d = db.member_days
    first = today.toordinal() - dt.date(1970, 1, 1).toordinal() - rules.window_days + 1
    return (
        sa.select(
            d.c.member_id,
            sa.func.sum(d.c.net_cents).label("spend"),
            sa.func.sum(d.c.orders).label("visits"),
        )
        .where(d.c.day >= first)
        .group_by(d.c.member_id)
        .subquery("w")
    )


def _bounded(
    col: sa.ColumnElement[int], low: int | None, high: int | None
) -> list[sa.ColumnElement[bool]]:
    """Bounds on a window sum where a member with no rows counts 0 (COALESCE)."""
    value = sa.func.coalesce(col, 0)
    out: list[sa.ColumnElement[bool]] = []
    if low is not None:
        out.append(value >= low)
    if high is not None:
        out.append(value <= high)
    return out


def _first_day(today: dt.date, days: int) -> int:
    return today.toordinal() - dt.date(1970, 1, 1).toordinal() - days + 1


def _rfm(rules: SegmentRules, today: dt.date) -> sa.Subquery:
    """Per member with a visit in the window: R, F and M scores 1-5.

    A score is the member's quintile by rank among those members: 1 + 5 (rank - 1) / n
    in integer arithmetic (the same on SQLite and PostgreSQL), so equal values share a
    score (rank, not row_number: no arbitrary split of ties) and the lowest value is 1.
    R ranks the last visit's day, F the orders, M the net spend."""
    d = db.member_days
    base = (
        sa.select(
            d.c.member_id,
            sa.func.max(sa.case((d.c.orders > 0, d.c.day))).label("last"),
            sa.func.sum(d.c.orders).label("visits"),
            sa.func.sum(d.c.net_cents).label("spend"),
        )
        .where(d.c.day >= _first_day(today, rules.window_days))
        .group_by(d.c.member_id)
        .having(sa.func.sum(d.c.orders) > 0)
        .subquery("rfm_base")
    )
    n = sa.func.count().over()

    def score(col: sa.ColumnElement[int], name: str) -> sa.Label[int]:
        return (1 + (RFM_SCORES * (sa.func.rank().over(order_by=col) - 1)) // n).label(name)

    return sa.select(
        base.c.member_id,
        score(base.c.last, "r"),
        score(base.c.visits, "f"),
        score(base.c.spend, "m"),
    ).subquery("rfm")


def _rfm_bounds(rules: SegmentRules, rfm: sa.Subquery) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = []
    for letter in "rfm":
        low, high = getattr(rules, f"{letter}_min"), getattr(rules, f"{letter}_max")
        if low is not None:
            out.append(rfm.c[letter] >= low)
        if high is not None:
            out.append(rfm.c[letter] <= high)
    return out


def _visited(today: dt.date, days: int) -> sa.Exists:
    d = db.member_days
    first = today.toordinal() - dt.date(1970, 1, 1).toordinal() - days + 1
    return sa.exists().where(d.c.member_id == db.members.c.id, d.c.day >= first, d.c.orders > 0)


def _consented(channel: str) -> sa.ColumnElement[bool]:
    """The member's latest marketing decision on the channel is yes."""
    c, later = db.member_consents, db.member_consents.alias("later")
    newer = sa.exists().where(
        later.c.member_id == c.c.member_id,
        later.c.channel == c.c.channel,
        later.c.purpose == c.c.purpose,
        later.c.id > c.c.id,
    )
    return sa.exists().where(
        c.c.member_id == db.members.c.id,
        c.c.channel == channel,
        c.c.purpose == "marketing",
        c.c.granted.is_(True),
        sa.not_(newer),
    )


def _member_rules(rules: SegmentRules, today: dt.date) -> list[sa.ColumnElement[bool]]:
    m, t = db.members, db.member_tags
    where: list[sa.ColumnElement[bool]] = [m.c.state == "active"]
    if rules.tags_any:
        where.append(sa.exists().where(t.c.member_id == m.c.id, t.c.tag.in_(rules.tags_any)))
    for tag in sorted(set(rules.tags_all)):
        where.append(sa.exists().where(t.c.member_id == m.c.id, t.c.tag == tag))
    if rules.tiers:
        where.append(m.c.tier.in_(rules.tiers))
    if rules.branches:
        where.append(m.c.branch_id.in_(rules.branches))
    if rules.birthday_month is not None:
        where.append(sa.extract("month", m.c.birthday) == rules.birthday_month)
    if rules.age_min_years is not None:  # born on or before today less the years
        where.append(m.c.birthday <= _years_before(today, rules.age_min_years))
    if rules.age_max_years is not None:  # not yet age_max + 1
        where.append(m.c.birthday > _years_before(today, rules.age_max_years + 1))
    if rules.card_kinds:
        c = db.cards
        where.append(
            sa.exists().where(
                c.c.member_id == m.c.id, c.c.kind.in_(rules.card_kinds), c.c.state == "active"
            )
        )
    if rules.consent_channel is not None:
        where.append(_consented(rules.consent_channel))
    return where


def query(rules: SegmentRules, today: dt.date) -> sa.Select[int]:
    """SELECT members.id of the members these rules pick, on `today`."""
    m = db.members
    where = _member_rules(rules, today)
    if rules.visited_within_days is not None:
        where.append(_visited(today, rules.visited_within_days))
    if rules.lapsed_days is not None:
        where.append(sa.not_(_visited(today, rules.lapsed_days)))
    sums = [rules.spend_min_cents, rules.spend_max_cents, rules.visits_min, rules.visits_max]
    joined: sa.FromClause = m
    if any(v is not None for v in sums):
        w = _window(rules, today)
        where += _bounded(w.c.spend, rules.spend_min_cents, rules.spend_max_cents)
        where += _bounded(w.c.visits, rules.visits_min, rules.visits_max)
        # A lower bound above 0 excludes members without rows (COALESCE 0): an inner
        # join then, which lets the database start from the window's few members.
        lows = (rules.spend_min_cents, rules.visits_min)
        if any(v is not None and v > 0 for v in lows):
            joined = joined.join(w, w.c.member_id == m.c.id)
        else:
            joined = joined.outerjoin(w, w.c.member_id == m.c.id)
    if rules.uses_rfm():  # an inner join: members without scores match no RFM bound
        rfm = _rfm(rules, today)
        where += _rfm_bounds(rules, rfm)
        joined = joined.join(rfm, rfm.c.member_id == m.c.id)
    return sa.select(m.c.id).select_from(joined).where(*where)


def rfm_scores(conn: Connection, member_id: int, window_days: int = 90) -> dict[str, int] | None:
    """A member's R, F and M scores over the window on the hub's day; None: no visit."""
    rfm = _rfm(check(SegmentRules(window_days=window_days)), db.today_at(conn))
    row = conn.execute(sa.select(rfm).where(rfm.c.member_id == member_id)).first()
    return None if row is None else {"r": int(row.r), "f": int(row.f), "m": int(row.m)}


def _segment(conn: Connection, code: str) -> SegmentRules:
    text = conn.execute(
        sa.select(db.segments.c.rules).where(db.segments.c.code == code)
    ).scalar_one_or_none()
    if text is None:
        raise ValidationError(f"no segment {code!r}")
    return parse(text)


def add(conn: Connection, code: str, name: str, rules: SegmentRules, actor: str) -> None:
    """A new segment (audited); its members come with the next refresh."""
    # Here, not at the top: hub.admin's snapshot reads campaign_book, which imports
    # held_out from this module, so a top-level import of hub.admin would be a cycle.
    from hub.admin.audit import audit

    if not CODE_RE.match(code):
        raise ValidationError(
            "a segment code is 1-48 of a-z, 0-9, _ and -, first a letter or digit"
        )
    if not 1 <= len(name) <= 200:
        raise ValidationError("give the segment a name of 1-200 characters")
    check(rules)
    if conn.execute(sa.select(db.segments.c.code).where(db.segments.c.code == code)).first():
        raise ValidationError(f"segment {code!r} exists already")
    text = msgspec.json.encode(rules).decode()
    conn.execute(
        db.segments.insert().values(
            code=code,
            name=name,
            rules=text,
            created_ms=db.now_ms(conn),
            actor=actor,
            refreshed_ms=0,
            member_count=0,
        )
    )
    audit(conn, actor, "segment.add", code, {"name": name, "rules": text})


def preview(conn: Connection, rules: SegmentRules, today: dt.date | None = None) -> int:
    """How many members the rules pick now: one COUNT, nothing written."""
    day = today or db.today_at(conn)
    inner = query(check(rules), day).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


def refresh(conn: Connection, code: str, today: dt.date | None = None) -> int:
    """Replace the segment's members with who matches today; the new count."""
    rules = _segment(conn, code)
    day = today or db.today_at(conn)
    sm = db.segment_members
    conn.execute(sm.delete().where(sm.c.segment_code == code))
    picked = query(rules, day).subquery()
    select = sa.select(sa.literal(code, sa.String).label("segment_code"), picked.c.id)
    conn.execute(sm.insert().from_select(["segment_code", "member_id"], select))
    count = int(
        conn.execute(
            sa.select(sa.func.count()).select_from(sm).where(sm.c.segment_code == code)
        ).scalar_one()
    )
    conn.execute(
        db.segments.update()
        .where(db.segments.c.code == code)
        .values(refreshed_ms=db.now_ms(conn), member_count=count)
    )
    return count


def refresh_all(conn: Connection, today: dt.date | None = None) -> dict[str, int]:
    """Every segment, refreshed (the daily job); code -> members."""
    codes = conn.execute(sa.select(db.segments.c.code).order_by(db.segments.c.code)).scalars()
    return {code: refresh(conn, code, today) for code in list(codes)}


def listed(conn: Connection) -> list[dict[str, object]]:
    s = db.segments
    rows = conn.execute(sa.select(s).order_by(s.c.code)).mappings()
    return [dict(r) for r in rows]


def member_segments(conn: Connection, member_id: int) -> list[str]:
    """The codes of the segments a member is in (for the snapshot and the decision)."""
    sm = db.segment_members
    rows = conn.execute(
        sa.select(sm.c.segment_code).where(sm.c.member_id == member_id).order_by(sm.c.segment_code)
    )
    return list(rows.scalars())


def members_of(conn: Connection, code: str) -> list[int]:
    sm = db.segment_members
    rows = conn.execute(
        sa.select(sm.c.member_id).where(sm.c.segment_code == code).order_by(sm.c.member_id)
    )
    return [int(m) for m in rows.scalars()]


def held_out(member_id: int, campaign: str, control_percent: float) -> bool:
    """Whether the member is in the campaign's control group: a stable hash, the same
    answer in every process and on every day (no random state to keep)."""
    if not 0 <= control_percent <= 100:
        raise ValidationError("the control group is 0-100 percent")
    digest = hashlib.sha256(f"{campaign}:{member_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % PERCENT_BASIS
    return bucket < round(control_percent * PERCENT_BASIS / 100)
