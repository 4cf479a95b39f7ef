"""Scenario: cloned tags. HQ's rules may let tags of a card kind without stored value
(a parking card) do without an originality signature, never those of a stored-value
kind; a rule set that tries is refused. At the hub, a device reads member card C100001
from a chip other than the one it was issued on: HQ gets one suspected-clone alert (the
dashboard's alerts list it), the snapshot is answered as usual, the same sighting again
adds nothing, and a device that invents UIDs cannot make the hub write without bound.
"""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
import sqlalchemy as sa

from hub import admin, clones, db
from hub.admin.snapshot import answer_query
from hub.web import alerts
from hub.web.settings import WebSettings
from tapcard.domain.model import CardKind
from tapcard.domain.rules import (
    CARD_KINDS_STORED_VALUE,
    unchecked_tag_allowed,
    validate_rules,
)
from tapcard.samples import load_sample_rules
from tapcard.wire.messages import SnapshotQuery
from tests.conftest import Seeded

ISSUED_UID = "04112233445566"
CLONE_UID = "04aabbccddeeff"


def test_unchecked_tags_only_for_kinds_without_stored_value() -> None:
    base = load_sample_rules()
    parking = dataclasses.replace(base, unchecked_tag_kinds=(CardKind.PARKING,))
    assert validate_rules(parking) == []
    assert unchecked_tag_allowed(parking, CardKind.PARKING.value)
    assert not unchecked_tag_allowed(base, CardKind.PARKING.value)  # default: none
    assert not unchecked_tag_allowed(None, CardKind.PARKING.value)  # no rules yet
    for kind in sorted(CARD_KINDS_STORED_VALUE):
        wrong = dataclasses.replace(base, unchecked_tag_kinds=(CardKind.PARKING, kind))
        assert validate_rules(wrong) == [
            f"unchecked_tag_kinds: {kind.value} cards spend stored value, "
            "their tags must be checked"
        ]
        # Even a rule set that skipped validation never lets a stored-value kind through.
        assert not unchecked_tag_allowed(wrong, kind.value)


def test_stored_value_kinds_cover_every_kind_but_parking() -> None:
    assert set(CardKind) - CARD_KINDS_STORED_VALUE == {CardKind.PARKING}


def _issue(seeded: Seeded, uid: str) -> str:
    rules = seeded.hub.rules.latest()
    assert rules is not None
    with seeded.hub.transaction() as conn:
        return admin.issue_card(conn, seeded.members[0], rules, "test", uid=uid)


def _ask(seeded: Seeded, card_id: str, uid: str, device: str = "kiosk-1") -> bool:
    query = SnapshotQuery(device=device, card_id=card_id, uid=uid)
    snapshot = answer_query(seeded.hub.engine, seeded.hub.writer, query, seeded.hub.rules.latest())
    return snapshot.found


def _clone_rows(seeded: Seeded) -> list[tuple[str, str, str]]:
    e = db.exceptions
    with seeded.hub.engine.connect() as conn:
        query = sa.select(e.c.card_id, e.c.device_id, e.c.detail).where(
            e.c.kind == clones.EXCEPTION_KIND
        )
        rows = conn.execute(query.order_by(e.c.id)).all()
    return [(str(r.card_id), str(r.device_id), str(r.detail)) for r in rows]


def test_two_uids_for_one_card_alert_hq(seeded: Seeded) -> None:
    card_id = _issue(seeded, ISSUED_UID)
    assert _ask(seeded, card_id, ISSUED_UID)  # the issued chip: nothing to report
    assert _ask(seeded, card_id, "")  # an older device sends no UID
    assert _clone_rows(seeded) == []

    assert _ask(seeded, card_id, CLONE_UID)  # answered as usual: the alert is for HQ
    assert _ask(seeded, card_id, CLONE_UID)  # the same sighting again
    rows = _clone_rows(seeded)
    detail = f"read from chip {CLONE_UID}; issued on chip {ISSUED_UID}"
    assert rows == [(card_id, "kiosk-1", detail)]

    with seeded.hub.engine.connect() as conn:
        found = alerts.compute(conn, WebSettings(), {}, [])
    shown = [a for a in found if a.kind == "exception" and card_id in a.message]
    assert len(shown) == 1 and clones.EXCEPTION_KIND in shown[0].message
    assert CLONE_UID in shown[0].message


def test_card_issued_without_uid_is_not_compared(seeded: Seeded) -> None:
    assert _ask(seeded, seeded.cards[0], CLONE_UID)
    assert _clone_rows(seeded) == []


def test_invented_uids_are_bounded(seeded: Seeded) -> None:
    card_id = _issue(seeded, ISSUED_UID)
    for n in range(clones.CLONE_ALERTS_OPEN_PER_CARD_MAX + 3):
        assert _ask(seeded, card_id, f"04{n:012x}")
    assert len(_clone_rows(seeded)) == clones.CLONE_ALERTS_OPEN_PER_CARD_MAX
    others = [_issue(seeded, f"05{n:012x}") for n in range(clones.CLONE_ALERTS_OPEN_PER_DEVICE_MAX)]
    for other in others:
        _ask(seeded, other, CLONE_UID)
    assert len(_clone_rows(seeded)) == clones.CLONE_ALERTS_OPEN_PER_DEVICE_MAX


@pytest.mark.parametrize("uid", ["04AABB", "zz112233445566", "04112233445566\n"])
def test_query_with_a_malformed_uid_does_not_decode(uid: str) -> None:
    body = msgspec.json.encode({"device": "kiosk-1", "card_id": "C100001", "uid": uid})
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=SnapshotQuery)
