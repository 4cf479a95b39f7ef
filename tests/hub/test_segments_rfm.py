"""RFM scores as segment rules (issue 17): quintiles 1-5 of recency, frequency and
monetary over the window, ties sharing a score, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from hub import admin, db, segments
from hub.segments import SegmentRules
from tapcard.errors import ValidationError
from tests.conftest import Seeded

VISITS = [1, 2, 3, 5, 5, 5, 7, 8, 9, 10]  # three members tie on 5 visits
WANT_R = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # 1 + 5 (rank - 1) // 10
WANT_F = [1, 1, 2, 2, 2, 2, 4, 4, 5, 5]  # the tie takes rank 4's score
WANT_M = WANT_R


def _buyers(seeded: Seeded) -> tuple[list[int], dt.date]:
    """Ten members: the i-th (from 1) last came 11 - i days ago, VISITS[i] times, and
    spent i x ¥10.00. The two seeded members bought nothing."""
    ids: list[int] = []
    with seeded.hub.transaction() as conn:
        today = db.today_at(conn)
        epoch_today = (today - dt.date(1970, 1, 1)).days
        for i, visits in enumerate(VISITS, start=1):
            new = admin.NewMember(name=f"买家{i}", phone=f"1390000{i:04d}", branch_id="shop-1")
            member = admin.add_member(conn, new, seeded.hub.rules.latest(), "", "test")
            ids.append(member)
            conn.execute(
                db.member_days.insert().values(
                    day=epoch_today - (11 - i),
                    branch_id="shop-1",
                    member_id=member,
                    net_cents=i * 1_000,
                    orders=visits,
                )
            )
    return ids, today


def test_scores_are_quintiles_with_ties_shared(seeded: Seeded) -> None:
    ids, _today = _buyers(seeded)
    with seeded.hub.transaction() as conn:
        got = [segments.rfm_scores(conn, member) for member in ids]
        assert got == [
            {"r": r, "f": f, "m": m} for r, f, m in zip(WANT_R, WANT_F, WANT_M, strict=True)
        ]
        assert segments.rfm_scores(conn, seeded.members[0]) is None  # no visit: no score


def _picked(ids: list[int], scores: list[int], test: object) -> set[int]:
    assert callable(test)
    return {member for member, score in zip(ids, scores, strict=True) if test(score)}


def test_rfm_bounds_pick_their_members(seeded: Seeded) -> None:
    ids, today = _buyers(seeded)
    cases = [
        (SegmentRules(r_min=4), _picked(ids, WANT_R, lambda s: s >= 4)),
        (SegmentRules(r_min=4, f_min=3), _picked(ids, WANT_F, lambda s: s >= 4)),
        (SegmentRules(f_min=2, f_max=2), set(ids[2:6])),
        (SegmentRules(m_max=1), set(ids[:2])),
        (SegmentRules(r_min=1), set(ids)),  # anyone with a visit; the seeded two have none
        (SegmentRules(r_max=2, m_min=2), set(ids[2:4])),
        (SegmentRules(r_min=5, tiers=["none-such"]), set()),
    ]
    with seeded.hub.transaction() as conn:
        for rules, want in cases:
            assert set(conn.execute(segments.query(rules, today)).scalars()) == want, rules
            assert segments.preview(conn, rules, today) == len(want)
        segments.add(conn, "champions", "冠军 Champions", SegmentRules(r_min=4, f_min=4), "hq")
        assert segments.refresh(conn, "champions", today) == 4


def test_the_window_bounds_who_is_scored(seeded: Seeded) -> None:
    """Over 3 days only the last two buyers count: they score 1 and 3 (of n = 2)."""
    ids, today = _buyers(seeded)
    with seeded.hub.transaction() as conn:
        rules = SegmentRules(window_days=3, r_min=3)
        assert list(conn.execute(segments.query(rules, today)).scalars()) == [ids[-1]]
        assert segments.rfm_scores(conn, ids[-2], window_days=3) == {"r": 1, "f": 1, "m": 1}
        assert segments.rfm_scores(conn, ids[-3], window_days=3) is None


@pytest.mark.parametrize("text", ['{"r_min": 0}', '{"f_max": 6}', '{"m_min": 4, "m_max": 2}'])
def test_bad_rfm_bounds_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        segments.parse(text)
