"""HQ merges two members who are the same person: balances move in one transfer, cards
and tags follow, the source is closed for good, `verify` stays clean; and the merges
that make no sense are refused and change nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from hub import admin, db
from hub.app import _alembic_config, migrate
from hub.verify import verify_ledger
from tapcard.domain.model import Asset, MemberStatus, TxKind
from tapcard.errors import ConflictError, ValidationError
from tests.conftest import Seeded, credit

REASON = "same person, registered twice"


def _merge(s: Seeded, source: int, target: int, reason: str = REASON) -> dict[str, object]:
    with s.hub.transaction() as conn:
        return admin.merge_members(conn, source, target, reason, "hq:ana", s.hub.rules.latest())


def _view(s: Seeded, member_id: int) -> dict[str, object]:
    with s.hub.engine.connect() as conn:
        return admin.member_view(conn, member_id)


def test_merge_moves_balances_cards_and_tags_in_one_transfer(seeded: Seeded) -> None:
    source, target = seeded.members
    credit(seeded.hub, source, Asset.POINTS, 700)
    credit(seeded.hub, source, Asset.GROWTH, 300)
    credit(seeded.hub, source, Asset.CENTS, 5_000)
    credit(seeded.hub, target, Asset.POINTS, 50)
    with seeded.hub.transaction() as conn:
        conn.execute(db.member_tags.insert().values(member_id=source, tag="vip"))
    summary = _merge(seeded, source, target)
    assert summary["balances"] == {"points": 700, "growth": 300, "cents": 5_000}
    assert summary["cards"] == [seeded.cards[0]]
    after_source, after_target = _view(seeded, source), _view(seeded, target)
    assert after_target["balances"] == {"points": 750, "growth": 300, "cents": 5_000}
    assert after_source["balances"] == {"points": 0, "growth": 0, "cents": 0}
    assert sorted(c["id"] for c in after_target["cards"]) == sorted(seeded.cards)  # type: ignore[attr-defined]
    assert after_target["tags"] == ["vip"] and after_source["tags"] == []
    assert (after_source["state"], after_source["merged_into"]) == ("merged", target)
    with seeded.hub.engine.connect() as conn:
        transfers = conn.execute(
            sa.select(db.transfers.c.tx_id, db.transfers.c.member_id).where(
                db.transfers.c.kind == TxKind.MERGE.value
            )
        ).all()
        assert [(t.tx_id, t.member_id) for t in transfers] == [(summary["tx_id"], target)]
        legs = conn.execute(
            sa.select(db.legs.c.account, db.legs.c.debit, db.legs.c.credit).where(
                db.legs.c.tx_id == summary["tx_id"]
            )
        ).all()
        assert (f"m:{source}:points", 700, 0) in legs and (f"m:{target}:points", 0, 700) in legs
        assert len(legs) == 6
        report = verify_ledger(conn)
        assert report.ok, report.errors
        audit = conn.execute(
            sa.select(db.audit.c.detail).where(db.audit.c.action == "member.merge")
        ).scalar_one()
        assert REASON in audit


def test_a_merged_member_is_closed(seeded: Seeded) -> None:
    source, target = seeded.members
    _merge(seeded, source, target)
    rules = seeded.hub.rules.latest()
    with pytest.raises(ConflictError), seeded.hub.transaction() as conn:
        admin.issue_card(conn, source, rules, "test")
    with pytest.raises(ConflictError), seeded.hub.transaction() as conn:
        admin.edit_member(
            conn, source, admin.ProfileChange(name="X"), seeded.hub.secrets.id_number_hash, "t"
        )
    # Its phone stays with the person: registering it again finds the target.
    new = admin.NewMember(name="Li Wei", phone="+86 138 0000 0001", branch_id="shop-1")
    with pytest.raises(admin.DuplicateMemberError) as found, seeded.hub.transaction() as conn:
        admin.add_member(conn, new, rules, "", "test")
    assert found.value.member_id == target


def test_refused_merges_change_nothing(seeded: Seeded) -> None:
    a, b = seeded.members
    credit(seeded.hub, a, Asset.POINTS, 10)
    with pytest.raises(ValidationError):
        _merge(seeded, a, a)
    with pytest.raises(ValidationError):
        _merge(seeded, a, b, reason="x")
    with seeded.hub.transaction() as conn:
        third = admin.add_member(
            conn, admin.NewMember(name="C", phone="13700000003"), seeded.hub.rules.latest(), "", "t"
        )
        conn.execute(
            db.members.update()
            .where(db.members.c.id == third)
            .values(state=MemberStatus.TERMINATED.value)
        )
    with pytest.raises(ConflictError):
        _merge(seeded, a, third)  # into a terminated member
    _merge(seeded, a, b)
    with pytest.raises(ConflictError):
        _merge(seeded, a, b)  # twice
    with pytest.raises(ConflictError):
        _merge(seeded, third, a)  # into a merged member
    assert _view(seeded, b)["balances"]["points"] == 10  # type: ignore[index]
    with seeded.hub.engine.connect() as conn:
        merges = conn.execute(
            sa.select(sa.func.count()).where(db.transfers.c.kind == TxKind.MERGE.value)
        ).scalar_one()
    assert merges == 1


def test_old_duplicates_survive_the_migration_and_are_listed(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        with db.writer(engine).begin() as conn:
            command.upgrade(_alembic_config(conn), "0011")
        members = sa.table(
            "members",
            *(
                sa.column(c)
                for c in (
                    "id",
                    "name",
                    "phone",
                    "id_number_masked",
                    "id_number_hash",
                    "address",
                    "tier",
                    "joined_on",
                    "period_start",
                    "period_growth",
                    "last_activity_on",
                    "state",
                )
            ),
        )
        day = sa.func.current_date()
        with db.writer(engine).begin() as conn:
            for member_id, phone, id_hash in (
                (1, "13800000001", "h1"),
                (2, "+86 138-0000-0001", ""),
                (3, "13900000009", "h1"),
            ):
                conn.execute(
                    members.insert().values(
                        id=member_id,
                        name=f"M{member_id}",
                        phone=phone,
                        id_number_masked="",
                        id_number_hash=id_hash,
                        address="",
                        tier="silver",
                        joined_on=day,
                        period_start=day,
                        period_growth=0,
                        last_activity_on=day,
                        state="active",
                    )
                )
        migrate(engine)
        with engine.connect() as conn:
            found = admin.member_duplicates(conn)
        assert found == [
            {"member_id": 2, "field": "phone", "same_as": 1},
            {"member_id": 3, "field": "id_number", "same_as": 1},
        ]
    finally:
        engine.dispose()


def _buckets(s: Seeded, member_id: int) -> dict[object, int]:
    b = db.point_buckets
    with s.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(b.c.expires_on, b.c.points).where(b.c.member_id == member_id))
        return {row.expires_on: int(row.points) for row in rows}


def test_points_expiry_buckets_move_with_their_dates(seeded: Seeded) -> None:
    source, target = seeded.members
    credit(seeded.hub, source, Asset.POINTS, 400)
    credit(seeded.hub, target, Asset.POINTS, 100)
    before_source, before_target = _buckets(seeded, source), _buckets(seeded, target)
    assert sum(before_source.values()) == 400 and sum(before_target.values()) == 100
    summary = _merge(seeded, source, target)
    assert summary["point_buckets"] is True
    after = _buckets(seeded, target)
    expected = dict(before_target)
    for day, points in before_source.items():
        expected[day] = expected.get(day, 0) + points
    assert after == expected  # same dates, the merge's own credit not counted again
    assert _buckets(seeded, source) == {}
