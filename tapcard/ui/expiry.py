"""The card's next points to expire, one line as the kiosk's member screen and the
terminal's member panel both show it: "120 points expire on 28 Feb 2029" /
"120 积分将于 2029年2月28日 到期"."""

from __future__ import annotations

from tapcard.ui import fmt
from tapcard.ui.i18n import Translator
from tapcard.wire import messages as m


def points_expiry_text(t: Translator, snap: m.Snapshot) -> str:
    """The line, or an empty one when no points will expire (or the hub is older)."""
    if snap.points_expiring <= 0 or snap.points_expire_on is None:
        return ""
    return t(
        "{points} points expire on {date}",
        points=fmt.points(snap.points_expiring),
        date=fmt.date(snap.points_expire_on, t.lang),
    )
