"""Why a card or a transaction was refused, as the screens say it: one table for both apps.

A refusal reason (`Reason`, from the device's own decision or the hub's result) maps to
a `Refusal`, and each refusal has a title and what to do. English msgids, translated at
render (tests/ui checks every one has a Chinese entry). The kiosk shows title and detail
on its refusal screen; the counter terminal shows the title as its message, with a few
titles of its own for refusals only a counter meets.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from tapcard.cards.credential import CredentialError, CredentialReason
from tapcard.readers.base import ReaderError
from tapcard.wire.codes import Reason


class Refusal(enum.StrEnum):
    UNKNOWN = "unknown"
    LOST = "lost"
    REPLACED = "replaced"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    FORGED = "forged"
    NOT_TAPCARD = "not_tapcard"  # a tag or card that carries no tapcard record at all
    POINTS = "points"
    OFFLINE_LIMIT = "offline_limit"
    STOCK = "stock"
    READER = "reader"
    OTHER = "other"
    # The member's dynamic QR scanned at a kiosk (tapcard/ui/kiosk_qr.py)
    QR_USED = "qr_used"
    QR_EXPIRED = "qr_expired"
    QR_INVALID = "qr_invalid"
    QR_OFFLINE = "qr_offline"


# (title, what to do); the detail of POINTS takes {need} and {have}.
REFUSALS: Final[Mapping[Refusal, tuple[str, str]]] = {
    Refusal.UNKNOWN: ("This card is not known", "Please ask at the counter."),
    Refusal.LOST: (
        "This card was reported lost",
        "It cannot be used. Please ask at the counter.",
    ),
    Refusal.REPLACED: ("This card was replaced", "Please use your new card."),
    Refusal.EXPIRED: (
        "This card has expired",
        "Renew it at the counter to use your points again.",
    ),
    Refusal.TERMINATED: ("This membership has ended", "Please ask at the counter."),
    Refusal.FORGED: ("This card could not be verified", "Please ask at the counter."),
    Refusal.NOT_TAPCARD: ("This is not a membership card", "Please tap your membership card."),
    Refusal.POINTS: ("Not enough points", "This reward needs {need} points; you have {have}."),
    Refusal.OFFLINE_LIMIT: (
        "Offline limit reached",
        "The kiosk is offline. Please try again later or ask at the counter.",
    ),
    Refusal.STOCK: ("Out of stock", "Please choose another reward."),
    Refusal.READER: ("The card reader is not working", "Please ask staff for help."),
    Refusal.OTHER: ("Sorry, this cannot be done here", "Please ask at the counter."),
    # The counter's words for these (terminal/presenters/member_code.py), one catalog.
    Refusal.QR_USED: (
        "This member code was used already: refresh it on the phone",
        "Or tap your membership card.",
    ),
    Refusal.QR_EXPIRED: (
        "This member code has expired: refresh it on the phone",
        "Or tap your membership card.",
    ),
    Refusal.QR_INVALID: (
        "This is not a member code of this chain",
        "Please tap your membership card.",
    ),
    Refusal.QR_OFFLINE: (
        "This member code needs HQ: refresh it on the phone, or tap the card",
        "The kiosk could not reach HQ in time; your card works offline too.",
    ),
}
assert set(REFUSALS) == set(Refusal)

_BY_REASON: Final[Mapping[Reason, Refusal]] = {
    Reason.UNKNOWN_CARD: Refusal.UNKNOWN,
    Reason.CARD_LOST: Refusal.LOST,
    Reason.CARD_REPLACED: Refusal.REPLACED,
    Reason.CARD_EXPIRED: Refusal.EXPIRED,
    Reason.CARD_TERMINATED: Refusal.TERMINATED,
    Reason.CARD_NOT_ALLOWED: Refusal.OTHER,
    Reason.INSUFFICIENT_POINTS: Refusal.POINTS,
    Reason.LIMIT_EXCEEDED: Refusal.OFFLINE_LIMIT,
    Reason.OUT_OF_STOCK: Refusal.STOCK,
}

# Refusals the kiosk never meets: the counter's own titles.
COUNTER_TITLES: Final[Mapping[Reason, str]] = {
    Reason.BACKFILL_WINDOW: "Receipt outside the backfill window",
    Reason.RECEIPT_USED: "This receipt already earned points",
    Reason.INSUFFICIENT_FUNDS: "Not enough stored value",
    Reason.DEVICE_NOT_ALLOWED: "This till may not do this",
    Reason.AMOUNT_NOT_ALLOWED: "The amount is above this till's limit",
    # Per card and per top-up; lower for a member not registered by real name.
    Reason.STORED_VALUE_CAP: "Above the stored-value limit of this card or of one top-up",
    Reason.SEQ_AHEAD: "This till is out of step with HQ: please call support",
    Reason.STAFF_UNVERIFIED: "Please log in again",
    Reason.STAFF_NOT_ALLOWED: "This staff member may not work at this till",
    Reason.UNKNOWN_REFERENCE: "No sale has this receipt or reference",
    Reason.REFUND_EXCEEDS_SALE: "More than was sold and not yet refunded",
    Reason.NOT_REFUNDABLE: "This cannot be refunded",
    Reason.VOUCHER_USED: "The voucher was already used: no refund",
    Reason.VOUCHER_EXPIRED: "This voucher has expired",
    Reason.VOUCHER_WRONG_BRANCH: "This voucher is not valid at this branch",
    Reason.VOUCHER_WRONG_DEVICE: "This voucher is not valid here",
}
assert not set(COUNTER_TITLES) & set(_BY_REASON)


def tap_refusal(error: Exception, card_answered: bool = False) -> Refusal:
    """Why a card on the reader was refused: a foreign tag (no tapcard record: its first
    bytes are not the magic, or it ends before them) is not a membership card at all; a
    reader fault is the reader's, unless a card was read and then answered wrongly; any
    other failed check is a card not to be trusted."""
    if isinstance(error, ReaderError):
        return Refusal.FORGED if card_answered else Refusal.READER
    if isinstance(error, CredentialError):
        foreign = error.reason == CredentialReason.BAD_MAGIC or (
            error.reason == CredentialReason.TRUNCATED and error.detail.endswith("the magic")
        )
        if foreign:
            return Refusal.NOT_TAPCARD
    return Refusal.FORGED


def refusal_of(reason: Reason) -> Refusal:
    return _BY_REASON.get(reason, Refusal.OTHER)


def title(refusal: Refusal) -> str:
    return REFUSALS[refusal][0]


def detail(refusal: Refusal) -> str:
    return REFUSALS[refusal][1]


# What the cashier can do about a refused transaction, where there is something to do.
COUNTER_DETAILS: Final[Mapping[Reason, str]] = {
    Reason.INSUFFICIENT_FUNDS: "Top up first, or take another payment.",
    Reason.INSUFFICIENT_POINTS: "The member does not have the points for this.",
    Reason.AMOUNT_NOT_ALLOWED: "Split it, or ask HQ to raise the limit.",
    Reason.STORED_VALUE_CAP: "Top up less.",
    Reason.CARD_LOST: "Ask for ID and issue a replacement card.",
    Reason.CARD_EXPIRED: "Renew the membership first.",
}


def counter_detail(reason: Reason) -> str:
    """The line under a refusal's title at the counter (an English msgid, "" if none)."""
    return COUNTER_DETAILS.get(reason, "")


def counter_title(reason: Reason) -> str:
    """The counter terminal's message for a refused transaction (an English msgid)."""
    return COUNTER_TITLES.get(reason) or title(refusal_of(reason))
