"""The member's dynamic QR (the member page, hub/member_qr.py) at a kiosk with a scanner.

Scenario, on the real offscreen kiosk window against a real hub and mosquitto: the
scanner types a fresh member code and Enter into the window; the hub takes the code and
the kiosk shows the member's masked name, points and rewards as after a tap; a parking
hour redeemed then is booked by the hub for that card. The same code scanned again is
refused as used, in English and Chinese; an expired code, a forged one and one whose
card is not its text's are refused too, and none of them is recorded.

With the hub out of reach (the broker stopped) the kiosk checks the code's signature
itself: a good code shows the member from the cache, as an offline tap does, and a
parking hour redeemed then is booked offline; the same code again is refused as used,
and a code of the first form (TCM1, which only the hub can check) is refused as needing
HQ. Once the link is back the hub books the redemption for the card, records the
code's nonce with the kiosk that took it, and refuses the same code online.
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa

from hub import db, member_qr
from tapcard.cards import member_code
from tapcard.ui.i18n import Translator
from tapcard.ui.kiosk_qr import ScanBuffer
from tests import kivy_env
from tests.device.conftest import wait_until
from tests.kiosk.conftest import Kiosk
from tests.kiosk.test_kiosk_flow import _press, give_points

USED = "This member code was used already: refresh it on the phone"
OFFLINE = "This member code needs HQ: refresh it on the phone, or tap the card"


def scan(kiosk: Kiosk, text: str) -> None:
    """What a USB scanner does: the code's characters into the window, then Enter."""
    from kivy.core.window import Window

    for char in text:
        Window.dispatch("on_textinput", char)
    Window.dispatch("on_key_down", 13, 40, None, [])


def code_for(kiosk: Kiosk, card_id: str, age_ms: int = 0) -> str:
    hub = kiosk.rig.seeded.hub
    return member_qr.make(hub.secrets, card_id, hub.clock.now_ms() - age_ms).text


def refused(kiosk: Kiosk, text: str) -> str:
    scan(kiosk, text)
    title: str = kiosk.wait_screen("refusal").title
    kiosk.presenter.go_idle()
    return title


def test_a_scanned_member_code_shows_the_member_and_books_for_the_card(kiosk: Kiosk) -> None:
    card_id = kiosk.rig.seeded.cards[0]
    give_points(kiosk, 0, 1_000)
    code = code_for(kiosk, card_id)
    scan(kiosk, code)
    member = kiosk.wait_screen("member")
    assert member.points == "1,000" and member.as_of == ""
    assert member.name_.startswith("L") and "Li Wei" not in member.name_
    assert kiosk.rig.count(db.member_qr_nonces, card_id=card_id) == 1
    kiosk.shoot("kiosk_member_qr_en")

    kiosk.presenter.choose("PARK-HOUR")
    confirm = kiosk.wait_screen("confirm")
    _press(confirm.ids.confirm)
    result = kiosk.wait_screen("result", 20)
    assert result.voucher and "Points left: 900" in result.summary
    with kiosk.rig.seeded.hub.engine.connect() as conn:
        transfer = conn.execute(
            sa.select(db.transfers).where(db.transfers.c.kind == "redeem")
        ).one()
        voucher = conn.execute(sa.select(db.vouchers.c.code)).scalar_one()
    assert (transfer.card_id, transfer.device_id, voucher) == (card_id, "kiosk-2", result.voucher)
    assert kiosk.rig.balances(0)["points"] == 900
    kiosk.presenter.go_idle()

    scan(kiosk, code)  # the screenshot of a code already used
    refusal = kiosk.wait_screen("refusal")
    assert (refusal.title, refusal.detail) == (USED, "Or tap your membership card.")
    kiosk.shoot("kiosk_refusal_qr_used_en")
    kiosk.app.toggle_language()
    kivy_env.pump()
    zh = Translator("zh")
    assert (refusal.title, refusal.detail) == (zh(USED), "或刷您的会员卡。")
    assert "已使用" in refusal.title
    kiosk.shoot("kiosk_refusal_qr_used_zh")
    kiosk.app.toggle_language()
    kiosk.presenter.go_idle()
    assert kiosk.rig.count(db.member_qr_nonces) == 1


def test_expired_forged_and_mismatched_codes_are_refused_and_not_recorded(kiosk: Kiosk) -> None:
    first, second = kiosk.rig.seeded.cards
    expired = code_for(kiosk, first, age_ms=member_qr.LIFETIME_MS + 1_000)
    assert refused(kiosk, expired) == "This member code has expired: refresh it on the phone"
    good = code_for(kiosk, first)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert refused(kiosk, forged) == "This is not a member code of this chain"
    other_card = good.replace(f"TCM2.{first}.", f"TCM2.{second}.")  # its signature fails
    assert refused(kiosk, other_card) == "This is not a member code of this chain"
    assert refused(kiosk, "TCM1.not a code") == "This is not a member code of this chain"
    scan(kiosk, "6901234567892")  # a product's barcode means nothing here
    kivy_env.pump()
    assert kiosk.presenter.screen == "idle"
    assert kiosk.rig.count(db.member_qr_nonces) == 0
    scan(kiosk, good)  # none of that spoiled the good code
    assert kiosk.wait_screen("member").name_.startswith("L")


def first_form(kiosk: Kiosk, card_id: str) -> str:
    """A code as hubs made them before the signed form: an HMAC under the hub's secret
    (hub/member_qr.py keeps taking them), computed here from its definition."""
    hub = kiosk.rig.seeded.hub
    body = f"TCM1.{card_id}.{hub.clock.now_ms() // 1000 + 60}.AAAAAAAAAAA"
    key = hmac.new(hub.secrets.secret, b"member-qr", hashlib.sha256).digest()
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()[:12]
    return f"{body}.{member_code.b64(mac)}"


def test_offline_the_kiosk_takes_a_signed_code_once(kiosk: Kiosk) -> None:
    card_id = kiosk.rig.seeded.cards[0]
    give_points(kiosk, 0, 1_000)
    kiosk.tap(card_id)  # online: the kiosk caches the hub's snapshot
    kiosk.wait_screen("member")
    kiosk.reader.remove()
    kiosk.wait_screen("idle")
    code, old = code_for(kiosk, card_id), first_form(kiosk, card_id)
    kiosk.rig.broker.stop()
    try:
        wait_until(lambda: not kiosk.app.runtime.link.connected, what="link down")
        scan(kiosk, code)
        member = kiosk.wait_screen("member")
        assert member.points == "1,000" and member.as_of.startswith("As of ")
        kiosk.presenter.choose("PARK-HOUR")
        _press(kiosk.wait_screen("confirm").ids.confirm)
        summary = kiosk.wait_screen("result", 20).summary
        assert "Points used: 100" in summary and "Saved offline" in summary
        kiosk.presenter.go_idle()
        assert refused(kiosk, code) == USED  # the same screenshot, at the same kiosk
        assert refused(kiosk, old) == OFFLINE
        scan(kiosk, old)
        refusal = kiosk.wait_screen("refusal")
        kiosk.app.toggle_language()
        kivy_env.pump()
        assert refusal.title == Translator("zh")(OFFLINE) and "会员码需联网验证" in refusal.title
        assert refusal.detail.startswith("本机未能及时连接总部")
        kiosk.shoot("kiosk_refusal_qr_offline_zh")
        kiosk.app.toggle_language()
        kiosk.presenter.go_idle()
    finally:
        kiosk.rig.broker.start()
    wait_until(lambda: kiosk.app.runtime.link.connected, what="link up")
    wait_until(lambda: kiosk.rig.count(db.transfers, kind="redeem") == 1, what="booked")
    with kiosk.rig.seeded.hub.engine.connect() as conn:
        transfer = conn.execute(sa.select(db.transfers)).all()[-1]
        nonce = conn.execute(sa.select(db.member_qr_nonces)).one()
        exceptions = conn.execute(sa.select(db.exceptions.c.kind)).scalars().all()
    assert (transfer.card_id, transfer.offline) == (card_id, True)
    assert (nonce.card_id, nonce.device_id) == (card_id, "kiosk-2") and exceptions == []
    assert kiosk.rig.balances(0)["points"] == 900
    assert refused(kiosk, code) == USED  # online now: the hub knows it was taken


def test_the_scan_buffer_keeps_a_line_and_drops_stray_keys_and_overlong_lines() -> None:
    buffer = ScanBuffer()
    buffer.typed("x", 10.0)  # a stray key long before the scan
    for i, char in enumerate("TCM1.C1.2.n.m"):
        buffer.typed(char, 20.0 + i * 0.01)
    assert buffer.enter() == "TCM1.C1.2.n.m" and buffer.enter() == ""
    buffer.typed("T" * (member_code.CODE_CHARS_MAX + 1), 30.0)
    assert buffer.enter() == ""  # longer than any code: refused whole, never cut
