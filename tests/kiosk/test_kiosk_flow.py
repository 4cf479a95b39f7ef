"""A member at a real kiosk window (offscreen), against a real hub and mosquitto.

Scenario: a member taps a card with points on the sim reader; the member screen shows
the masked name, tier, points and the catalog; they choose parking, add an hour, and
confirm with a touch on the real button. The hub books the redemption (points leg and
a voucher row) and the result screen shows the voucher code and its QR code. Another
tap with a lost card and one with too few points each get their own refusal screen; the
card's removal goes back to idle. With the hub unreachable (broker stopped), the idle
screen wears the offline badge and a tap shows the member screen from the cache, with
the time those figures date from. Screens are saved in both languages.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import admin, db
from tapcard.domain.model import Asset
from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from tests import kivy_env
from tests.conftest import credit
from tests.device.conftest import wait_until
from tests.kiosk.conftest import Kiosk


def give_points(kiosk: Kiosk, member_index: int, points: int) -> None:
    seeded = kiosk.rig.seeded
    credit(seeded.hub, seeded.members[member_index], Asset.POINTS, points)


def _press(button: object) -> None:
    from kivy.tests.common import UnitTestTouch

    x, y = button.to_window(*button.center)  # type: ignore[attr-defined]  # a kivy widget
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def test_member_redeems_parking_and_gets_a_voucher(kiosk: Kiosk) -> None:
    card_id = kiosk.rig.seeded.cards[0]
    give_points(kiosk, 0, 1_000)
    kiosk.shoot("kiosk_idle_en")
    kiosk.tap(card_id)
    member = kiosk.wait_screen("member")
    assert member.points == "1,000"
    assert member.name_.startswith("L") and "Li Wei" not in member.name_
    kiosk.shoot("kiosk_member_en")
    kiosk.app.toggle_language()
    kivy_env.pump()
    assert member.tier == "普通会员"
    kiosk.shoot("kiosk_member_zh")
    kiosk.app.toggle_language()

    kiosk.presenter.choose("PARK-HOUR")
    confirm = kiosk.wait_screen("confirm")
    kiosk.presenter.more()
    assert confirm.units_text == "2 h" and confirm.cost == "200 points"
    kiosk.shoot("kiosk_confirm_en")
    kiosk.app.toggle_language()
    kivy_env.pump()
    assert confirm.cost == "200 积分"
    kiosk.shoot("kiosk_confirm_zh")
    kiosk.app.toggle_language()
    kivy_env.pump()
    _press(confirm.ids.confirm)
    result = kiosk.wait_screen("result", 20)
    assert len(result.voucher.replace("-", "")) == 12 and result.matrix
    kiosk.shoot("kiosk_result_en")
    kiosk.app.toggle_language()
    kivy_env.pump()
    kiosk.shoot("kiosk_result_zh")

    with kiosk.rig.seeded.hub.engine.connect() as conn:
        voucher = conn.execute(sa.select(db.vouchers)).one()
        transfer = conn.execute(
            sa.select(db.transfers).where(db.transfers.c.kind == "redeem")
        ).one()
    assert voucher.code == result.voucher
    assert transfer.card_id == card_id and transfer.device_id == "kiosk-2"
    assert kiosk.rig.balances(0)["points"] == 800


def test_refusals_for_a_lost_card_and_too_few_points(kiosk: Kiosk) -> None:
    lost, poor = kiosk.rig.seeded.cards
    with kiosk.rig.seeded.hub.transaction() as conn:
        admin.report_lost(conn, lost, "test")
    kiosk.tap(lost)
    refusal = kiosk.wait_screen("refusal")
    assert refusal.title == "This card was reported lost"
    kiosk.shoot("kiosk_refusal_lost_en")
    kiosk.app.toggle_language()
    kivy_env.pump()
    assert refusal.title == "此卡已挂失"
    kiosk.shoot("kiosk_refusal_lost_zh")
    kiosk.reader.remove()
    kiosk.wait_screen("idle")
    kiosk.shoot("kiosk_idle_zh")

    kiosk.tap(poor, uid=b"\x04\x99\x88\x77\x66\x55\x44")
    kiosk.wait_screen("member")
    kiosk.presenter.choose("WASH-STANDARD")
    refusal = kiosk.wait_screen("refusal")
    assert refusal.title == "积分不足"
    assert "800" in refusal.detail
    kiosk.shoot("kiosk_refusal_points_zh")
    kiosk.app.toggle_language()
    kivy_env.pump()
    assert refusal.title == "Not enough points"
    kiosk.shoot("kiosk_refusal_points_en")
    kiosk.reader.remove()
    kiosk.wait_screen("idle")
    assert kiosk.presenter.session is None


def test_offline_badge_and_member_screen_from_the_cache(kiosk: Kiosk) -> None:
    card_id = kiosk.rig.seeded.cards[0]
    give_points(kiosk, 0, 300)
    kiosk.tap(card_id)  # online: the kiosk caches the hub's snapshot
    member = kiosk.wait_screen("member")
    assert member.as_of == "" and member.points == "300"
    kiosk.reader.remove()
    kiosk.wait_screen("idle")
    kiosk.rig.broker.stop()
    try:
        wait_until(lambda: not kiosk.app.runtime.link.connected, what="link down")
        kiosk.app._on_status_tick(0)  # the app's 3 s status check, without the wait
        idle = kiosk.app.screen("idle")
        kivy_env.pump(lambda: idle.badge != "")
        assert idle.badge == "Offline: figures may be a little old"
        kiosk.shoot("kiosk_idle_offline_en")
        kiosk.app.toggle_language()
        kivy_env.pump()
        assert idle.badge == Translator("zh")("Offline: figures may be a little old")
        kiosk.shoot("kiosk_idle_offline_zh")
        kiosk.app.toggle_language()

        kiosk.tap(card_id)
        member = kiosk.wait_screen("member")
        snapshot = kiosk.presenter.session.snapshot
        assert member.points == "300"
        assert member.as_of == f"As of {fmt.clock(snapshot.as_of_ms)}"
        kiosk.shoot("kiosk_member_offline_en")
        kiosk.app.toggle_language()
        kivy_env.pump()
        assert member.as_of == f"数据截至 {fmt.clock(snapshot.as_of_ms)}"
        kiosk.shoot("kiosk_member_offline_zh")
        kiosk.reader.remove()
        kiosk.wait_screen("idle")
        assert kiosk.presenter.session is None
    finally:
        kiosk.rig.broker.start()
