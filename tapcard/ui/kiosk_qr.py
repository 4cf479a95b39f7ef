"""QR codes at the kiosk: the member's dynamic code scanned in place of a card, and the
voucher's code drawn on the result screen.

A USB scanner types what it reads, then Enter, into the focused window; the app feeds
those keys to a `ScanBuffer` and hands each finished line to the presenter. A line in
the member code's form (tapcard/cards/member_code.py) names its card: the kiosk asks
the hub for that card's snapshot with the code beside it, the hub takes the code once,
and the kiosk goes on exactly as after a tap of that card.

Offline the kiosk checks the code's signature itself and takes it once
(tapcard/device/member_codes.py), then goes on as after an offline tap: the cached
snapshot, the offline policy's caps. Only a code of the first form (TCM1, which only
the hub can check) or a query without a reply in time is refused as needing the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tapcard.cards import member_code
from tapcard.device.policy import Verdict
from tapcard.device.port import DevicePort, Seen
from tapcard.ui.refusals import Refusal, refusal_of
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason

SCAN_CHARS_MAX: Final = m.MEMBER_QR_CHARS_MAX
# A scanner types a whole code in well under this; keys further apart start a new line,
# so a stray key long before a scan does not spoil it.
SCAN_GAP_S: Final = 0.5
ENTER_KEYS: Final = frozenset({13, 271})  # Return, and keypad Enter (Kivy key codes)

# The hub's refusals of a code (SnapshotQuery.qr), as the refusal screen says them.
CODE_REFUSALS: Final[Mapping[int, Refusal]] = {
    Reason.MEMBER_QR_USED: Refusal.QR_USED,
    Reason.MEMBER_QR_EXPIRED: Refusal.QR_EXPIRED,
    Reason.MEMBER_QR_INVALID: Refusal.QR_INVALID,
}

LookedUp = tuple[Seen, Verdict] | Refusal


class ScanBuffer:
    """The characters a scanner typed since the last Enter, `now_s` being the caller's
    monotonic clock."""

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._last_s = 0.0
        self._overflow = False

    def typed(self, text: str, now_s: float) -> None:
        if now_s - self._last_s > SCAN_GAP_S:
            self._chars, self._overflow = [], False
        self._last_s = now_s
        if len(self._chars) + len(text) > SCAN_CHARS_MAX:
            self._overflow = True  # longer than any code: refused whole, never cut
            return
        self._chars.extend(text)

    def enter(self) -> str:
        """The line ended by Enter ("" when it was longer than a code), the buffer empty."""
        line = "" if self._overflow else "".join(self._chars)
        self._chars, self._overflow = [], False
        return line.strip()


is_member_code = member_code.is_member_code
card_of_code = member_code.card_of_code


def look_up_code(port: DevicePort, text: str) -> LookedUp:
    """As a tap's look-up (the snapshot, the hub's or offline the cached one, and the
    runtime's verdict on it), or why the code is refused. Runs on the presenter's
    worker: at most the snapshot timeout."""
    card_id = card_of_code(text)
    if not card_id:
        return Refusal.QR_INVALID
    seen = port.member_code_snapshot(card_id, text.strip())
    if seen is None:  # no reply in time (the hub may have taken it), or a TCM1 offline
        return Refusal.QR_OFFLINE
    snapshot = seen[0]
    if snapshot is not None and not snapshot.found:
        reason = snapshot.reason
        if reason in CODE_REFUSALS:
            return CODE_REFUSALS[reason]
        return refusal_of(Reason(reason)) if reason in set(Reason) else Refusal.OTHER
    # The probe a tap makes too: the card's state and the deny list, decided on device.
    return seen, port.check(card_id, m.TopUp(amount_cents=1), seen)


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR code of a voucher as rows of dark (True) modules, quiet zone included."""
    import qrcode

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    return [list(map(bool, row)) for row in code.get_matrix()]
