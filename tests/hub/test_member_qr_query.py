"""A kiosk's snapshot query carrying a member code (hub/member_qr_query.py), both databases.

Li's code in the query gives Li's snapshot (points, masked name, segments asked for) and
records the code as used; the same query again is refused as used; an expired code, one
whose card is not the query's, and a forged one are refused with their reasons and leave
no nonce behind; a refusal names the query's card, as the device matches replies by it.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import db, member_qr
from hub.member_qr_query import answer_qr_query
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason
from tests.hub.test_gates import Park
from tests.hub.test_gates import park as park  # noqa: PLC0414 (the fixture)


def _ask(park: Park, text: str, card_id: str = "") -> m.Snapshot:
    query = m.SnapshotQuery(device="kiosk-1", card_id=card_id or park.card, segments=True, qr=text)
    return answer_qr_query(park.hub, query, park.hub.rules.latest())


def _nonces(park: Park) -> int:
    with park.hub.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(db.member_qr_nonces)).scalar_one()
        )


def test_a_code_gives_the_cards_snapshot_once(park: Park) -> None:
    code = member_qr.make(park.hub.secrets, park.card, park.clock.now_ms()).text
    first = _ask(park, code)
    assert (first.card_id, first.found, first.reason) == (park.card, True, 0)
    assert first.balances is not None and first.balances.points == 10_000
    assert first.member_name_masked.startswith("L") and "Li Wei" not in first.member_name_masked
    assert _nonces(park) == 1
    again = _ask(park, code)
    assert (again.card_id, again.found, again.reason) == (park.card, False, Reason.MEMBER_QR_USED)
    assert again.balances is None and _nonces(park) == 1


def test_expired_other_card_and_forged_codes_are_refused_and_not_recorded(park: Park) -> None:
    keys, now = park.hub.secrets, park.clock.now_ms()
    late = member_qr.make(keys, park.card, now - member_qr.LIFETIME_MS)
    assert _ask(park, late.text).reason == Reason.MEMBER_QR_EXPIRED
    good = member_qr.make(keys, park.card, now).text
    other = _ask(park, good, card_id="C999999")  # the code names Li's card, not this one
    assert (other.card_id, other.found, other.reason) == (
        "C999999",
        False,
        Reason.MEMBER_QR_INVALID,
    )
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert _ask(park, forged).reason == Reason.MEMBER_QR_INVALID
    assert _nonces(park) == 0
    assert _ask(park, good).found  # none of that used the good code
