"""Card accounts are not members of their own, on SQLite and PostgreSQL.

Scenario: Li Wei (seeded, with a member card) gets a dining card and a cinema card, each
issued to a holder row of its own (members.person_id). Searching by her name or phone
finds her once; searching by the dining card's number finds her, not the holder; the
new-member reports (by day, by source) and a campaign's new members count her once.
"""

from __future__ import annotations

from hub import admin, db, reports, sales_reports
from tapcard.domain.model import CardKind
from tests.conftest import Seeded


def issue(seeded: Seeded, member_id: int, kind: CardKind, program: str) -> str:
    with seeded.hub.transaction() as conn:
        rules = seeded.hub.rules.latest()
        return admin.issue_card(conn, member_id, rules, "hq:ana", kind=kind, program=program)


def test_holder_rows_are_left_out_of_search_and_new_member_counts(seeded: Seeded) -> None:
    person = seeded.members[0]
    dining = issue(seeded, person, CardKind.CATEGORY, "dining")
    issue(seeded, person, CardKind.COBRANDED, "cinema")
    with seeded.hub.engine.connect() as conn:
        row = admin.member_view(conn, person)
        holders = conn.execute(db.members.select().where(db.members.c.person_id == person)).all()
        assert len(holders) == 2  # the card accounts exist: they are what is left out
        by_name = admin.search_members(conn, str(row["name"]))
        by_phone = admin.search_members(conn, str(row["phone"]))
        by_card = admin.search_members(conn, dining)
        by_day = reports.new_members(conn)
        by_source = sales_reports.new_members_by_source(conn)
    assert [r["id"] for r in by_name] == [person]
    assert [r["id"] for r in by_phone] == [person]
    assert [r["id"] for r in by_card] == [person]
    people = len(seeded.members)
    assert sum(r["members"] for r in by_day) == people
    assert sum(r["members"] for r in by_source) == people
