"""The member's dynamic QR code (the member page, hub/member_qr.py) at the counter.

A USB scanner types it into the sale screen's scan field like a barcode; text in the
code's form goes here instead of the catalog. The hub takes the code once over the
staff channel and names the card, and the terminal goes on as for a tapped card
(`on_tap` with that card, its snapshot asked for as after a tap).

Offline the code is refused: only the hub holds the key that checks it, and only the
hub can record that it was used, so a device that took it offline could be shown the
same screenshot again and again. The member taps the card instead, which works offline
within the offline policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from tapcard.ui.worker import Tap
from tapcard.wire import staff_messages as sm
from terminal.presenters.desk import Desk

PREFIX: Final = "TCM1."  # hub/member_qr.py PREFIX: the text form of a member code
OFFLINE: Final = "A member code needs the hub: tap the card instead"
# The hub's refusals (hub/member_qr.py reasons), as the screen says them.
QR_ERRORS: Final[Mapping[str, str]] = {
    "qr_used": "This member code was used already: refresh it on the phone",
    "qr_expired": "This member code has expired: refresh it on the phone",
    "invalid": "This is not a member code of this chain",
    "card_unknown": "This is not a member code of this chain",
}


def is_member_code(text: str) -> bool:
    return text.strip().startswith(PREFIX)


def scan_member_code(desk: Desk, text: str, on_tap: Callable[[Tap], None]) -> bool:
    """Handle `text` if it is a member code (True), else leave it to the barcode
    lookup (False)."""
    if not is_member_code(text):
        return False
    if not desk.guard():
        return True
    if not desk.port.is_online():
        desk.message(desk.t(OFFLINE))
        return True

    def taken(reply: sm.StaffReply) -> None:
        on_tap(Tap(None, card_id=reply.card_id))

    desk.ask_hub(sm.MemberCode(qr=text.strip()[: sm.MEMBER_QR_CHARS_MAX]), taken, errors=QR_ERRORS)
    return True
