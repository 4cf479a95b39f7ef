"""Reason codes of results. Values are part of the protocol: never renumber one."""

from __future__ import annotations

import enum

from tapcard.domain.model import CardState


class Reason(enum.IntEnum):
    OK = 0
    # The message itself
    MALFORMED = 1  # not JSON, or not an envelope
    SCHEMA = 2  # valid JSON that violates the message's schema
    OVERSIZE = 3
    UNSUPPORTED_VERSION = 4
    UNKNOWN_DEVICE = 5
    DEVICE_REVOKED = 6
    BAD_SIGNATURE = 7
    DEVICE_MISMATCH = 8  # body names another device than the topic and signer
    # Idempotency and order
    TX_ID_REUSED = 10  # same transaction id, different content
    SEQ_REUSED = 11  # sequence number already used by another transaction
    # Cards
    UNKNOWN_CARD = 20
    CARD_LOST = 21
    CARD_EXPIRED = 22
    CARD_TERMINATED = 23
    CARD_REPLACED = 24
    CARD_NOT_ALLOWED = 25  # the card kind cannot do this (limits of a supplementary card)
    # Balances and rules
    INSUFFICIENT_POINTS = 30
    INSUFFICIENT_FUNDS = 31
    UNKNOWN_ITEM = 32
    OUT_OF_STOCK = 33
    BACKFILL_WINDOW = 34
    RECEIPT_USED = 35
    UNKNOWN_RULES_VERSION = 36
    INVALID_REQUEST = 37  # well-formed but not sensible (zero amount, bad units)
    LIMIT_EXCEEDED = 38  # a per-card limit
    # What the device may do (the rule set's capability table, tapcard.domain.authority)
    DEVICE_NOT_ALLOWED = 40  # this kind of device may not send this operation here
    AMOUNT_NOT_ALLOWED = 41  # beyond the device kind's bound for the operation and tender
    STORED_VALUE_CAP = 42  # the top-up would take the card past its stored-value cap
    SEQ_AHEAD = 43  # the sequence number is too far ahead of the next expected one
    # Staff at a terminal (hub/staff_sessions.py)
    STAFF_UNVERIFIED = 50  # no, a forged, an expired or another device's staff session
    STAFF_NOT_ALLOWED = 51  # not a terminal, or the staff id is not active at its branch
    # Refunds (hub/refunds.py)
    UNKNOWN_REFERENCE = 60  # no purchase or redemption has this transfer id or receipt
    REFUND_EXCEEDS_SALE = 61  # more of a line than was sold and not yet refunded
    NOT_REFUNDABLE = 62  # not a purchase or redemption, or nothing left to refund
    VOUCHER_USED = 63  # the redemption's voucher was used: it cannot be given back
    # Vouchers (hub/admin/vouchers.py): where and until when a voucher counts
    VOUCHER_EXPIRED = 70  # past its expiry, hub time
    VOUCHER_WRONG_BRANCH = 71  # the rules let it count at other branches only
    VOUCHER_WRONG_DEVICE = 72  # the rules let it count at other kinds of device only
    # The member's dynamic QR code in place of a card (hub/member_qr.py, SnapshotQuery.qr)
    MEMBER_QR_USED = 80
    MEMBER_QR_EXPIRED = 81
    MEMBER_QR_INVALID = 82  # not made by this hub (forged, another chain's) or card unknown
    # The hub
    # A signed intent the hub could not handle (a poison message, or a body its schema
    # refuses): its seq is consumed, never booked; the device moves it to its
    # dead-letter list and stops sending it (hub/dead_letters.py).
    SET_ASIDE = 98
    INTERNAL_ERROR = 99


# Rejections caused by the message's form: never stored against the transaction id,
# because nothing in such a message can be trusted to identify it.
FORM_REASONS = frozenset(
    {
        Reason.MALFORMED,
        Reason.SCHEMA,
        Reason.OVERSIZE,
        Reason.UNSUPPORTED_VERSION,
        Reason.UNKNOWN_DEVICE,
        Reason.DEVICE_REVOKED,
        Reason.BAD_SIGNATURE,
        Reason.DEVICE_MISMATCH,
    }
)


# Why a card in this state may not do an operation; a state this version does not know
# is CARD_NOT_ALLOWED.
CARD_STATE_REASON: dict[CardState, Reason] = {
    CardState.LOST: Reason.CARD_LOST,
    CardState.REPLACED: Reason.CARD_REPLACED,
    CardState.TERMINATED: Reason.CARD_TERMINATED,
    CardState.EXPIRED: Reason.CARD_EXPIRED,
}
