"""The member QR codes a device takes while the hub is away.

A TCM2 code is signed with the issuer's key (tapcard/cards/member_code.py), which the
device's bundle holds to check cards, so the device checks it as it checks a card's
credential. What a device cannot know offline is whether another device took the same
code: it records the nonces it took itself (a document in its store, kept across
restarts), so a screenshot shown again here is refused, and it sends the code with the
intents it books for the card (`TxIntent.member_code`). The hub records the nonce and
books a code taken at two places as an exception (hub/member_qr_offline.py); until then
the offline policy bounds what the card, and so the code, can spend, as for a card.

Codes are taken offline only: online the hub takes each code once for every device.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from nacl.signing import VerifyKey

from tapcard.cards import member_code as code
from tapcard.device.store import StoreError
from tapcard.wire.codes import Reason

USED_DOC: Final = "member_codes_used"
# A code lives 60 s and is taken only near its end by this device's clock (below), so a
# nonce matters only while the clock may come back to that minute: it is kept an hour
# past it, for a clock set back. Beyond USED_MAX (a code every 1.8 s for that hour) the
# oldest go first. The record is written whole at each take: at 2,000 nonces that is
# 4-6 ms here, at 10,000 about 18 ms, p99 42 ms (bench/member_code.py).
USED_KEPT_MS: Final = 3_600_000
USED_MAX: Final = 2_000
# A code ends at most LIFETIME_MS after the hub made it. One that ends much later by this
# device's clock means the clock is behind, and an old screenshot would still look new.
CLOCK_BEHIND_MS_MAX: Final = 120_000

LoadDoc = Callable[[str], object]
SaveDoc = Callable[[str, object], None]


class Taken(enum.Enum):
    OK = "ok"
    USED = "used"  # this device took it already
    EXPIRED = "expired"
    INVALID = "invalid"  # not a code, not the issuer's signature, or another card's
    NEEDS_HUB = "needs_hub"  # a TCM1 code: only the hub can check its MAC


# The refusals as the hub words them for a code it will not take (SnapshotQuery.qr).
REFUSED: Final[Mapping[Taken, Reason]] = {
    Taken.USED: Reason.MEMBER_QR_USED,
    Taken.EXPIRED: Reason.MEMBER_QR_EXPIRED,
    Taken.INVALID: Reason.MEMBER_QR_INVALID,
}


class MemberCodes:
    """Offline checks of member codes, and the code each card was last identified by."""

    def __init__(self, keys: Sequence[VerifyKey], load: LoadDoc, save: SaveDoc) -> None:
        self._keys = tuple(keys)
        self._save = save
        self._lock = threading.Lock()
        doc = load(USED_DOC)
        self._used: dict[str, int] = {}  # nonce -> when its code ends, ms
        if isinstance(doc, dict):
            self._used = {k: v for k, v in doc.items() if isinstance(v, int)}
        self._last = ("", "")  # (card id, code text) of the latest code taken

    def take(self, card_id: str, text: str, now_ms: int) -> Taken:
        """Check a scanned code offline and, when good, record it as used here."""
        parts = code.parse(text)
        if parts is None or parts.card_id != card_id:
            return Taken.INVALID
        if not parts.signed:
            return Taken.NEEDS_HUB
        if not code.signature_holds(parts, self._keys):
            return Taken.INVALID
        if now_ms >= parts.expires_ms:
            return Taken.EXPIRED
        if parts.expires_ms - now_ms > code.LIFETIME_MS + CLOCK_BEHIND_MS_MAX:
            return Taken.INVALID
        with self._lock:
            if parts.nonce in self._used:
                return Taken.USED
            used = _pruned({**self._used, parts.nonce: parts.expires_ms}, now_ms)
            try:  # saved before the member gets anything for it; a failed save takes nothing
                self._save(USED_DOC, used)
            except OSError as exc:
                raise StoreError(f"cannot record the member code: {exc}") from exc
            self._used = used
            self._last = (card_id, text.strip())
        return Taken.OK

    def code_for(self, card_id: str) -> str:
        """The code the card was last identified by, when that was a code taken here."""
        with self._lock:
            last_card, text = self._last
        return text if last_card == card_id else ""

    def tapped(self) -> None:
        """A card was tapped: what follows is that card's, not the last code's."""
        with self._lock:
            self._last = ("", "")


def _pruned(used: dict[str, int], now_ms: int) -> dict[str, int]:
    kept = {n: ends_ms for n, ends_ms in used.items() if ends_ms + USED_KEPT_MS >= now_ms}
    while len(kept) > USED_MAX:  # dicts keep insertion order: the oldest first
        del kept[next(iter(kept))]
    return kept
