"""The dynamic member QR code (hub/member_qr.py), on both databases.

Li's page shows a code for Li's card. The hub takes it once: the first redeem gives the
card and Li; the same code again is refused as used; a fresh code 60 s later is refused
as expired; a code with a changed card is refused as not the hub's.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import db, member_qr
from tests.hub.test_gates import Park
from tests.hub.test_gates import park as park  # noqa: PLC0414 (the fixture)


def test_a_member_code_is_taken_once_and_not_after_60_s(park: Park) -> None:
    keys, now = park.hub.secrets, park.clock.now_ms()
    with park.hub.transaction() as conn:
        member = conn.execute(
            sa.select(db.cards.c.member_id).where(db.cards.c.id == park.card)
        ).scalar()
        assert member_qr.card_of_member(conn, int(member or 0)) == park.card
    code = member_qr.make(keys, park.card, now)
    assert len(code.text) <= member_qr.CODE_CHARS_MAX
    with park.hub.transaction() as conn:
        assert member_qr.redeem(conn, keys, code.text, now) == member_qr.Redeemed(
            park.card, int(member or 0)
        )
    with park.hub.transaction() as conn, pytest.raises(member_qr.MemberQrRefused) as used:
        member_qr.redeem(conn, keys, code.text, now + 1_000)
    assert used.value.reason == "qr_used"
    late = member_qr.make(keys, park.card, now)
    with park.hub.transaction() as conn, pytest.raises(member_qr.MemberQrRefused) as old:
        member_qr.redeem(conn, keys, late.text, now + member_qr.LIFETIME_MS)
    assert old.value.reason == "qr_expired"
    forged = late.text.replace(park.card, park.card[:-1] + "9", 1)
    with park.hub.transaction() as conn, pytest.raises(member_qr.MemberQrRefused) as bad:
        member_qr.redeem(conn, keys, forged, now)
    assert bad.value.reason == "invalid"
