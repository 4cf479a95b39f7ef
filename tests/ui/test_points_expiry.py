"""The points-expiry line and the local date format, without a window.

Scenario: a snapshot says 1,200 points expire on 29 February 2028; the kiosk and the
terminal show "1,200 points expire on 29 Feb 2028" in English and
"1,200 积分将于 2028年2月29日 到期" in Chinese, and nothing when no points will expire
or the hub is one from before expiry (no fields).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from tapcard.ui import fmt
from tapcard.ui.expiry import points_expiry_text
from tapcard.ui.i18n import Translator
from tapcard.wire import messages as m

SNAP = m.Snapshot(card_id="C1", found=True)


def test_local_date_format() -> None:
    day = dt.date(2028, 2, 29)
    assert (fmt.date(day, "en"), fmt.date(day, "zh")) == ("29 Feb 2028", "2028年2月29日")
    assert fmt.date(dt.date(2027, 12, 31), "en") == "31 Dec 2027"


def test_points_expiry_line_in_both_languages() -> None:
    snap = msgspec.structs.replace(
        SNAP, points_expiring=1_200, points_expire_on=dt.date(2028, 2, 29)
    )
    assert points_expiry_text(Translator("en"), snap) == "1,200 points expire on 29 Feb 2028"
    assert points_expiry_text(Translator("zh"), snap) == "1,200 积分将于 2028年2月29日 到期"


def test_no_line_when_nothing_expires() -> None:
    assert points_expiry_text(Translator("en"), SNAP) == ""
    no_day = msgspec.structs.replace(SNAP, points_expiring=5)
    assert points_expiry_text(Translator("zh"), no_day) == ""
