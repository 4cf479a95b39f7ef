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

from tapcard.wire.codes import Reason


class Refusal(enum.StrEnum):
    UNKNOWN = "unknown"
    LOST = "lost"
    REPLACED = "replaced"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    FORGED = "forged"
    POINTS = "points"
    OFFLINE_LIMIT = "offline_limit"
    STOCK = "stock"
    READER = "reader"
    OTHER = "other"


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
    Refusal.POINTS: ("Not enough points", "This reward needs {need} points; you have {have}."),
    Refusal.OFFLINE_LIMIT: (
        "Offline limit reached",
        "The kiosk is offline. Please try again later or ask at the counter.",
    ),
    Refusal.STOCK: ("Out of stock", "Please choose another reward."),
    Refusal.READER: ("The card reader is not working", "Please ask staff for help."),
    Refusal.OTHER: ("Sorry, this cannot be done here", "Please ask at the counter."),
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


def refusal_of(reason: Reason) -> Refusal:
    return _BY_REASON.get(reason, Refusal.OTHER)


def title(refusal: Refusal) -> str:
    return REFUSALS[refusal][0]


def detail(refusal: Refusal) -> str:
    return REFUSALS[refusal][1]


def counter_title(reason: Reason) -> str:
    """The counter terminal's message for a refused transaction (an English msgid)."""
    return COUNTER_TITLES.get(reason) or title(refusal_of(reason))
