"""Member QR codes the devices took offline (hub/member_qr_offline.py), on both databases.

Li's page shows a signed code. Two kiosks are cut off from the hub; the first takes the
code and books two parking hours with it (two intents carrying it). When its intents
reach the hub both are booked, the code's nonce is recorded once with that kiosk, and
no exception is raised. The hub then refuses the same code online. The second kiosk,
shown the same screenshot, booked a hour too: the hub books it (the offline policy bounds
what it may spend) and raises `member_code_twice` for HQ. A code the hub took online
and a kiosk took offline later is the same exception. A code whose signature fails,
one naming another card and one on an intent not marked offline are booked with
`member_code_invalid` and leave no nonce. A code of the first form (TCM1) is still
taken online, and nonces stay long enough for late offline intents to meet them.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
import sqlalchemy as sa

from hub import admin, db, member_qr
from hub.member_qr_offline import EXCEPTION_INVALID, EXCEPTION_TWICE
from tapcard.cards import member_code
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.hub.support import Device
from tests.hub.test_gates import Park
from tests.hub.test_gates import park as park  # noqa: PLC0414 (the fixture)

PARK_HOUR = m.Redeem(item="PARK-HOUR", units=1)


def kiosk(park: Park, device_id: str) -> Device:
    key = new_signing_key()
    with park.hub.transaction() as conn:
        admin.add_device(conn, device_id, "shop-1", "kiosk", verify_key_text(key.verify_key), "t")
    return Device(device_id, key)


def book(park: Park, device: Device, code: str, *, offline: bool = True) -> m.TxResult:
    incoming = device.incoming(
        park.card, PARK_HOUR, offline=offline, member_code=code, created_ms=park.clock.now_ms()
    )
    [result] = park.hub.ledger.apply_batch([incoming])
    assert result.accepted, result.message
    return result


def exceptions(park: Park) -> list[tuple[str, str]]:
    e = db.exceptions
    with park.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(e.c.kind, e.c.device_id).order_by(e.c.id)).all()
    return [(kind, device) for kind, device in rows]


def nonces(park: Park) -> list[tuple[str, str]]:
    n = db.member_qr_nonces
    with park.hub.engine.connect() as conn:
        return [(r.card_id, r.device_id) for r in conn.execute(sa.select(n)).all()]


def test_a_code_taken_offline_is_recorded_once_and_refused_online(park: Park) -> None:
    first, second = kiosk(park, "kiosk-1"), kiosk(park, "kiosk-2")
    code = member_qr.make(park.hub.secrets, park.card, park.clock.now_ms()).text
    book(park, first, code)
    result = book(park, first, code)  # a second redemption after the same scan
    assert not result.offline_exception
    assert nonces(park) == [(park.card, "kiosk-1")] and exceptions(park) == []
    with park.hub.transaction() as conn, pytest.raises(member_qr.MemberQrRefused) as used:
        member_qr.redeem(conn, park.hub.secrets, code, park.clock.now_ms())
    assert used.value.reason == "qr_used"

    park.clock.advance(5 * 60_000)  # the second kiosk's link comes back later
    assert book(park, second, code).offline_exception
    assert exceptions(park) == [(EXCEPTION_TWICE, "kiosk-2")]
    assert nonces(park) == [(park.card, "kiosk-1")]  # one row per code, whoever sends it


def test_a_code_the_hub_took_online_and_a_kiosk_offline_is_an_exception(park: Park) -> None:
    offline = kiosk(park, "kiosk-1")
    code = member_qr.make(park.hub.secrets, park.card, park.clock.now_ms()).text
    with park.hub.transaction() as conn:
        member_qr.redeem(conn, park.hub.secrets, code, park.clock.now_ms())
    assert book(park, offline, code).offline_exception
    e = db.exceptions
    with park.hub.engine.connect() as conn:
        detail = conn.execute(sa.select(e.c.detail).where(e.c.kind == EXCEPTION_TWICE)).scalar()
    assert detail == "member code taken offline at device kiosk-1, and online at the hub"


def test_codes_that_do_not_hold_are_exceptions_and_leave_no_nonce(park: Park) -> None:
    device = kiosk(park, "kiosk-1")
    now = park.clock.now_ms()
    good = member_qr.make(park.hub.secrets, park.card, now).text
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    other_key = member_code.sign(new_signing_key(), park.card, now, bytes(8))
    other_card = member_code.sign(park.hub.secrets.issuer_key, "C999999", now, bytes(8))
    for code in (forged, other_key, other_card):
        assert book(park, device, code).offline_exception
    book(park, device, good, offline=False)  # only an offline intent may carry one
    assert exceptions(park) == [(EXCEPTION_INVALID, "kiosk-1")] * 4
    assert nonces(park) == []


def test_a_first_form_code_is_still_taken_online(park: Park) -> None:
    keys, now = park.hub.secrets, park.clock.now_ms()
    body = f"TCM1.{park.card}.{now // 1000 + 60}.AAAAAAAAAAA"
    key = hmac.new(keys.secret, b"member-qr", hashlib.sha256).digest()
    text = f"{body}.{member_code.b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:12])}"
    with park.hub.transaction() as conn:
        assert member_qr.redeem(conn, keys, text, now).card_id == park.card
    assert nonces(park) == [(park.card, "")]


def test_nonces_outlive_their_codes_for_late_offline_intents(park: Park) -> None:
    device = kiosk(park, "kiosk-1")
    now = park.clock.now_ms()
    code = member_qr.make(park.hub.secrets, park.card, now).text
    with park.hub.transaction() as conn:
        member_qr.redeem(conn, park.hub.secrets, code, now)
        assert member_qr.prune(conn, now + 86_400_000) == 0  # a day later: still kept
    assert book(park, device, code).offline_exception  # met although the code ended
    with park.hub.transaction() as conn:
        assert member_qr.prune(conn, now + member_qr.NONCE_KEPT_MS + 120_000) == 1
