"""The member's dynamic QR code (the member page, hub/member_qr.py) at the counter.

A USB scanner types it into the sale screen's scan field like a barcode; text in the
code's form goes here instead of the catalog. The hub takes the code once over the
staff channel and names the card, and the terminal goes on as for a tapped card
(`on_tap` with that card, its snapshot asked for as after a tap).

Offline the terminal checks the code's signature itself and takes it once
(tapcard/device/member_codes.py), then goes on as after an offline tap of the card: the
cached snapshot and the offline policy's caps; the intents it books carry the code, so
the hub sees where else it was taken. A code of the first form (TCM1) only the hub can
check: offline it is refused, and the member taps the card instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from tapcard.cards import member_code
from tapcard.device.store import StoreError
from tapcard.ui.worker import Tap
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.codes import Reason
from terminal.presenters.desk import Desk

OFFLINE: Final = "This member code needs HQ: refresh it on the phone, or tap the card"
STORE_FAILED: Final = "This terminal could not record the member code: tap the card instead"
# The hub's refusals (hub/member_qr.py reasons), as the screen says them.
QR_ERRORS: Final[Mapping[str, str]] = {
    "qr_used": "This member code was used already: refresh it on the phone",
    "qr_expired": "This member code has expired: refresh it on the phone",
    "invalid": "This is not a member code of this chain",
    "card_unknown": "This is not a member code of this chain",
}
# The same refusals when the terminal checks a code offline.
OFFLINE_ERRORS: Final[Mapping[int, str]] = {
    Reason.MEMBER_QR_USED: QR_ERRORS["qr_used"],
    Reason.MEMBER_QR_EXPIRED: QR_ERRORS["qr_expired"],
    Reason.MEMBER_QR_INVALID: QR_ERRORS["invalid"],
}

is_member_code = member_code.is_member_code


def scan_member_code(desk: Desk, text: str, on_tap: Callable[[Tap], None]) -> bool:
    """Handle `text` if it is a member code (True), else leave it to the barcode
    lookup (False)."""
    if not is_member_code(text):
        return False
    if not desk.guard():
        return True
    if not desk.port.is_online():
        _take_offline(desk, text, on_tap)
        return True

    def taken(reply: sm.StaffReply) -> None:
        on_tap(Tap(None, card_id=reply.card_id))

    desk.ask_hub(sm.MemberCode(qr=text.strip()[: m.MEMBER_QR_CHARS_MAX]), taken, errors=QR_ERRORS)
    return True


def _take_offline(desk: Desk, text: str, on_tap: Callable[[Tap], None]) -> None:
    card_id = member_code.card_of_code(text)
    if not card_id:
        desk.message(desk.t(QR_ERRORS["invalid"]))
        return
    try:
        seen = desk.port.member_code_snapshot(card_id, text.strip())
    except StoreError:
        desk.message(desk.t(STORE_FAILED))
        return
    if seen is None:  # a TCM1 code, or the link came back and the hub did not answer
        desk.message(desk.t(OFFLINE))
        return
    snapshot = seen[0]
    if snapshot is not None and not snapshot.found:
        desk.message(desk.t(OFFLINE_ERRORS.get(snapshot.reason, QR_ERRORS["invalid"])))
        return
    on_tap(Tap(None, card_id=card_id))
