"""The terminal's member panel names the next points to expire, in English and Chinese.

Scenario: Li has 250 points earned today under the demo chain's rolling expiry; the
cashier taps her card and the home screen's member panel says when they expire; in
Chinese the same line reads "250 积分将于 <年月日> 到期".
"""

from __future__ import annotations

from hub import db
from tapcard.domain import expiry
from tapcard.domain.authority import business_date
from tapcard.domain.model import Asset
from tapcard.ui import fmt
from tests.conftest import credit
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till


def test_member_panel_shows_points_expiring(till: Till) -> None:
    hub = till.rig.seeded.hub
    rules = hub.rules.latest()
    credit(hub, till.rig.seeded.members[0], Asset.POINTS, 250)
    with hub.engine.connect() as conn:
        last_day = expiry.expires_on(
            rules.points_expiry, business_date(db.now_ms(conn), rules.time_zone)
        )
    till.presenter.login("ann", PIN)
    till.wait("home", "login")
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    line = f"250 points expire on {fmt.date(last_day, 'en')}"
    wait_until(lambda: line in till.presenter.member_text(), what="expiry line")
    till.presenter.set_language("zh")
    zh = f"250 积分将于 {last_day.year}年{last_day.month}月{last_day.day}日 到期"
    assert zh in till.presenter.member_text()
