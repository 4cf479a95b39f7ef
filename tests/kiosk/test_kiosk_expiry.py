"""The kiosk's member screen names the next points to expire, in English and Chinese.

Scenario: the demo chain's points expire at the end of the month a year after they were
earned. Li was given 300 points today; she taps her card at the kiosk and reads
"300 points expire on <that day>", then switches to Chinese and reads the same line as
"300 积分将于 <年月日> 到期". Ana has no points: her screen has no such line.
"""

from __future__ import annotations

from hub import db
from tapcard.domain import expiry
from tapcard.domain.authority import business_date
from tapcard.ui import fmt
from tests import kivy_env
from tests.kiosk.conftest import Kiosk
from tests.kiosk.test_kiosk_flow import give_points


def test_member_screen_shows_points_expiring(kiosk: Kiosk) -> None:
    hub = kiosk.rig.seeded.hub
    rules = hub.rules.latest()
    give_points(kiosk, 0, 300)
    with hub.engine.connect() as conn:
        earned_on = business_date(db.now_ms(conn), rules.time_zone)
    last_day = expiry.expires_on(rules.points_expiry, earned_on)
    kiosk.tap(kiosk.rig.seeded.cards[0])
    member = kiosk.wait_screen("member")
    assert member.points_expiry == f"300 points expire on {fmt.date(last_day, 'en')}"
    kiosk.shoot("kiosk_member_expiry_en")
    kiosk.app.toggle_language()
    kivy_env.pump()
    zh = f"{last_day.year}年{last_day.month}月{last_day.day}日"
    assert member.points_expiry == f"300 积分将于 {zh} 到期"
    kiosk.shoot("kiosk_member_expiry_zh")
    kiosk.app.toggle_language()
    kiosk.reader.remove()
    kiosk.wait_screen("idle")

    kiosk.tap(kiosk.rig.seeded.cards[1], uid=b"\x04\x99\x88\x77\x66\x55\x44")
    member = kiosk.wait_screen("member")
    assert member.points_expiry == ""
