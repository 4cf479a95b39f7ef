"""A registration at the counter with an ID number, answered by the hub on SQLite and
PostgreSQL.

Scenario: a cashier registers Zhao Liu with her ID number: the hub keeps it masked and
hashed, never in full, and books the joining fee. A second registration with the same ID
number (typed in lower case, another phone) makes no member, no card and no fee: it is
answered duplicate, naming Zhao Liu masked. An ID number out of bounds is refused as
invalid without being echoed back; nothing is logged with the ID number in it.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from hub import db, staff
from tapcard.wire import staff_messages as sm
from tests.conftest import Seeded
from tests.hub.support import staff_on_duty

ID_NUMBER = "11010119920517123X"
UIDS = ("04a1b2c3d4e5f1", "04a1b2c3d4e5f2", "04a1b2c3d4e5f3")


def _ask(s: Seeded, op: sm.AnyStaffOp) -> sm.StaffReply:
    badge = staff_on_duty(s.hub, s.device_id, "ann")
    request = sm.StaffRequest(device=s.device_id, staff="ann", session=badge.session, op=op)
    return staff.answer(s.hub, request, "shop-1")


def _counts(s: Seeded) -> tuple[int, ...]:
    with s.hub.engine.connect() as conn:
        return tuple(
            int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in (db.members, db.cards, db.transfers, db.legs)
        )


def test_a_repeat_id_number_is_answered_duplicate_and_books_nothing(
    seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = _ask(
        seeded,
        sm.RegisterMember(name="Zhao Liu", phone="13900000077", uid=UIDS[0], id_number=ID_NUMBER),
    )
    assert first.error == "", first.message
    assert first.fee_cents == 2000
    with seeded.hub.engine.connect() as conn:
        row = conn.execute(sa.select(db.members).where(db.members.c.id == first.member_id)).one()
        audit_rows = " ".join(str(d) for d in conn.execute(sa.select(db.audit.c.detail)).scalars())
    assert row.id_number_masked == "1101**********123X"
    assert row.id_number_hash == seeded.hub.secrets.id_number_hash(ID_NUMBER)
    assert ID_NUMBER not in " ".join(str(v) for v in row._mapping.values())
    assert ID_NUMBER not in audit_rows

    before = _counts(seeded)
    again = sm.RegisterMember(
        name="Zhao L.", phone="13900000088", uid=UIDS[1], id_number=f" {ID_NUMBER.lower()} "
    )
    reply = _ask(seeded, again)
    assert (reply.error, reply.member_id, reply.changed) == (
        "duplicate",
        first.member_id,
        ["id_number"],
    )
    assert [(r.member_id, r.name, r.phone) for r in reply.members] == [
        (first.member_id, "Z******u", "*******0077")
    ]
    assert ID_NUMBER not in reply.message.upper() and reply.credential == ""
    assert _counts(seeded) == before
    assert ID_NUMBER not in caplog.text.upper()


def test_an_id_number_out_of_bounds_is_refused_and_not_echoed(seeded: Seeded) -> None:
    before = _counts(seeded)
    short = sm.RegisterMember(name="Qian Qi", phone="13900000099", uid=UIDS[2], id_number="12345")
    reply = _ask(seeded, short)
    assert reply.error == "invalid" and "ID number must be 6-32 characters" in reply.message
    assert "12345" not in reply.message
    assert _counts(seeded) == before
