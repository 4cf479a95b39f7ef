"""Segments at the hub (issue 17): each rule picks the right members in SQL, on SQLite
and PostgreSQL; preview counts, refresh fills segment_members; bad rules are refused."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import db, segments
from hub.segments import SegmentRules
from tapcard.errors import ValidationError
from tests.conftest import Seeded


def _setup(seeded: Seeded) -> tuple[int, int, dt.date]:
    """Li Wei: tagged vip, gold, born in today's month 30 years ago, spent 500.00 in two
    visits yesterday. Ana Silva: no tags, no spend, born 70 years ago next month."""
    li, ana = seeded.members
    with seeded.hub.transaction() as conn:
        today = db.today_at(conn)
        next_month = today.month % 12 + 1
        conn.execute(db.member_tags.insert().values(member_id=li, tag="vip"))
        conn.execute(
            db.members.update()
            .where(db.members.c.id == li)
            .values(tier="gold", birthday=today.replace(year=today.year - 30, day=1))
        )
        conn.execute(
            db.members.update()
            .where(db.members.c.id == ana)
            .values(birthday=dt.date(today.year - 70, next_month, 1))
        )
        day = (today - dt.date(1970, 1, 1)).days - 1
        conn.execute(
            db.member_days.insert().values(
                day=day, branch_id="shop-1", member_id=li, net_cents=50_000, orders=2
            )
        )
    return li, ana, today


CASES = [
    (SegmentRules(), "both"),
    (SegmentRules(tags_any=["vip", "x"]), "li"),
    (SegmentRules(tags_all=["vip", "x"]), "none"),
    (SegmentRules(tiers=["gold"]), "li"),
    (SegmentRules(branches=["shop-1"]), "both"),
    (SegmentRules(spend_min_cents=50_000), "li"),
    (SegmentRules(spend_max_cents=49_999), "ana"),
    (SegmentRules(visits_min=2, visits_max=2), "li"),
    (SegmentRules(visits_max=0), "ana"),
    (SegmentRules(visited_within_days=7), "li"),
    (SegmentRules(lapsed_days=7), "ana"),
    (SegmentRules(age_min_years=18, age_max_years=40), "li"),
    (SegmentRules(age_min_years=65), "ana"),
    (SegmentRules(card_kinds=["member"]), "both"),
    (SegmentRules(card_kinds=["parking"]), "none"),
    (SegmentRules(consent_channel="sms"), "none"),
    (SegmentRules(tiers=["gold"], spend_min_cents=1), "li"),
]


@pytest.mark.parametrize(("rules", "who"), CASES)
def test_each_rule_picks_its_members(seeded: Seeded, rules: SegmentRules, who: str) -> None:
    li, ana, today = _setup(seeded)
    want = {"both": {li, ana}, "li": {li}, "ana": {ana}, "none": set()}[who]
    with seeded.hub.transaction() as conn:
        got = set(conn.execute(segments.query(rules, today)).scalars())
        assert got == want
        assert segments.preview(conn, rules, today) == len(want)


def test_birthday_month_and_refresh(seeded: Seeded) -> None:
    li, _ana, today = _setup(seeded)
    with seeded.hub.transaction() as conn:
        segments.add(
            conn, "bday", "Birthday this month", SegmentRules(birthday_month=today.month), "hq"
        )
        segments.add(conn, "all", "Everyone", SegmentRules(), "hq")
        assert segments.refresh_all(conn, today) == {"all": 2, "bday": 1}
        assert segments.members_of(conn, "bday") == [li]
        assert segments.member_segments(conn, li) == ["all", "bday"]
        conn.execute(db.member_tags.insert().values(member_id=li, tag="gone"))
        conn.execute(db.members.update().where(db.members.c.id == li).values(state="terminated"))
        assert segments.refresh(conn, "bday", today) == 0  # only active members
        listed = {r["code"]: r["member_count"] for r in segments.listed(conn)}
        assert listed == {"all": 2, "bday": 0}
        actions = (
            conn.execute(sa.select(db.audit.c.action).where(db.audit.c.target == "bday"))
            .scalars()
            .all()
        )
        assert actions == ["segment.add"]


def test_bad_rules_are_refused(seeded: Seeded) -> None:
    bad = [
        '{"nope": 1}',
        "not json",
        '{"birthday_month": 13}',
        '{"window_days": 0}',
        '{"spend_min_cents": 5, "spend_max_cents": 1}',
        '{"card_kinds": ["gold"]}',
        '{"consent_channel": "fax"}',
        '{"age_min_years": -1}',
    ]
    for text in bad:
        with pytest.raises(ValidationError):
            segments.parse(text)
    with seeded.hub.transaction() as conn:
        segments.add(conn, "a", "A", SegmentRules(), "hq")
        for code in ("a", "Bad Code", ""):
            with pytest.raises(ValidationError):
                segments.add(conn, code, "X", SegmentRules(), "hq")
        with pytest.raises(ValidationError):
            segments.refresh(conn, "missing")


def test_hold_out_is_stable_and_near_its_share() -> None:
    held = [m for m in range(1, 20_001) if segments.held_out(m, "spring", 10)]
    assert held == [m for m in range(1, 20_001) if segments.held_out(m, "spring", 10)]
    assert 1_800 < len(held) < 2_200
    assert not any(segments.held_out(m, "spring", 0) for m in range(1, 1_000))
    assert all(segments.held_out(m, "spring", 100) for m in range(1, 1_000))
    other = {m for m in range(1, 20_001) if segments.held_out(m, "autumn", 10)}
    assert other != set(held)  # each campaign holds out its own members
    with pytest.raises(ValidationError):
        segments.held_out(1, "spring", 101)
