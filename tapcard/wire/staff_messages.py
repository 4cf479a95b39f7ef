"""The staff channel's messages: what a terminal's staff ask the hub, and its answers
(terminal -> hub on dev/{device}/staff, answers on dev/{device}/staff-reply).

The rest of the protocol is in `tapcard.wire.messages`; `tapcard.wire.catalog` names
every message type.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

import msgspec

from tapcard.domain.engine import SALE_LINES_MAX
from tapcard.domain.model import Payment
from tapcard.wire.messages import (
    AMOUNT_CENTS_MAX,
    MEMBER_QR_CHARS_MAX,
    Body,
    CardId,
    DeviceId,
    MemberCodeText,
    RefundLine,
    SaleRef,
    SessionToken,
    ShortText,
    Text,
    UnixMs,
)

StaffId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}(?!\n)$")]
# Only terminals that predate sealed PINs send one in clear; the hub refuses it.
ClearPin = Annotated[str, msgspec.Meta(pattern=r"^([0-9]{4,12})?(?!\n)$")]
SEALED_PIN_CHARS_MAX: Final = 400  # base64 of a SealedBox (48 bytes) around a PinSeal
SealedPin = Annotated[str, msgspec.Meta(max_length=SEALED_PIN_CHARS_MAX)]
UidHex = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{2}){4,10}(?!\n)$")]
CardKeyHex = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{64})?(?!\n)$")]
CREDENTIAL_HEX_CHARS_MAX: Final = 2 * 256
STAFF_SEARCH_ROWS_MAX: Final = 20


class StaffOp(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    """What a staff member asks the hub for at a terminal; the tag is `kind`."""


class LoginChallenge(StaffOp, frozen=True, tag="challenge"):
    """Ask the hub for a one-time login challenge (`StaffReply.challenge`), to seal
    into the next `StaffLogin` or put into the next `StaffCardLogin`."""


class StaffLogin(StaffOp, frozen=True, tag="login"):
    """Login by PIN: `sealed_pin` is `PinSeal` sealed to the hub's key
    (tapcard.wire.keys.seal_pin); a subscriber can neither read it nor replay it."""

    sealed_pin: SealedPin = ""
    pin: ClearPin = ""  # older terminals: refused


class PinSeal(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a sealed PIN holds: the PIN bound to one hub challenge, device and staff id."""

    pin: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,12}(?!\n)$")]
    challenge: SessionToken
    device: DeviceId
    staff: StaffId


class MemberSearch(StaffOp, frozen=True, tag="search"):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RegisterMember(StaffOp, frozen=True, omit_defaults=True, tag="register"):
    """A new member and a card for the blank chip `uid` on the terminal's reader.

    Fields at their defaults stay out of the JSON: a hub that predates `id_number` (it
    refuses unknown fields) still reads a registration that gives none. The ID number
    travels in full once; the hub keeps it only masked and hashed, like EditMember's."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    phone: Annotated[str, msgspec.Meta(min_length=5, max_length=24)]
    uid: UidHex
    card_key: CardKeyHex = ""  # the chip's own public key, when it has one
    birthday: dt.date | None = None
    waive_fee: bool = False  # the joining fee (paid cash otherwise); a manager only
    join_by_spend: bool = False  # no fee; provisional until it spends (docs/rules.md)
    id_number: Annotated[str, msgspec.Meta(max_length=32)] = ""  # optional: "" for none


class ReportLost(StaffOp, frozen=True, tag="lost"):
    card_id: CardId


class ReplaceCard(StaffOp, frozen=True, tag="replace"):
    """A new card for the blank chip `uid`, carrying the member's balances over."""

    card_id: CardId
    uid: UidHex
    card_key: CardKeyHex = ""
    payment: Payment = Payment.CASH
    waive_fee: bool = False  # a manager only


class StaffCardLogin(StaffOp, frozen=True, tag="card_login"):
    """Login by a staff card (`S-<staff id>`) whose credential the terminal verified."""

    card_id: CardId
    uid: UidHex
    challenge: SessionToken = ""  # from LoginChallenge: a replayed login is refused


class ReversePoints(StaffOp, frozen=True, tag="reverse"):
    """Take back the points a transfer earned (a manager only). `ref` is the transfer id
    or the reference printed on this terminal's receipt (`SEQ/first 8 of the id`)."""

    ref: Annotated[str, msgspec.Meta(min_length=3, max_length=64)]
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=200)]


class RenewWaived(StaffOp, frozen=True, tag="renew_waived"):
    """Renew a card with the annual fee waived (a manager only, audited)."""

    card_id: CardId


class UseVoucher(StaffOp, frozen=True, tag="voucher"):
    """Accept a member's voucher (parking, car wash, prize) once, as typed or scanned."""

    code: Annotated[str, msgspec.Meta(min_length=4, max_length=32)]


class GateCard(StaffOp, frozen=True, omit_defaults=True, tag="gate_card"):
    """At a gate or a wash bay: a member's card the device verified (`card_id`, read from
    chip `uid`), or the member's dynamic QR code from the member page (`qr`), one of
    them. The hub consumes the member's oldest voucher that counts there."""

    card_id: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[A-Za-z0-9-]*(?!\n)$")] = ""
    uid: Annotated[str, msgspec.Meta(pattern=r"^(([0-9a-f]{2}){4,10})?(?!\n)$")] = ""
    qr: MemberCodeText = ""


class SaleLookup(StaffOp, frozen=True, tag="sale"):
    ref: SaleRef  # what this sale still has to refund: answered in `StaffReply.sale`


class RefundQuote(StaffOp, frozen=True, tag="refund_quote"):
    """What refunding these lines of sale `ref` would give back and take back, priced
    by the hub exactly as it would book it (`StaffReply.quote`); books nothing. No
    lines: all that is still refundable."""

    ref: SaleRef
    lines: Annotated[list[RefundLine], msgspec.Meta(max_length=SALE_LINES_MAX)] = []


class ShowProfile(StaffOp, frozen=True, tag="profile"):
    """A member's profile as the edit form shows it (`StaffReply.profile`): a member of
    the terminal's branch only."""

    member_id: Annotated[int, msgspec.Meta(ge=1)]


class EditMember(StaffOp, frozen=True, tag="edit_member"):
    """Change a member's profile: a field left out (None) stays; "" clears the address,
    birthday or ID number. The ID number travels in full once and is kept only masked
    and hashed. Answered with the profile after the change and the fields changed."""

    member_id: Annotated[int, msgspec.Meta(ge=1)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    phone: Annotated[str, msgspec.Meta(min_length=5, max_length=24)] | None = None
    address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    birthday: Annotated[str, msgspec.Meta(max_length=10)] | None = None  # YYYY-MM-DD
    id_number: Annotated[str, msgspec.Meta(max_length=32)] | None = None


# A till's money figures: up to AMOUNT_CENTS_MAX each (a float, takings, counted cash).
TillCents = Annotated[int, msgspec.Meta(ge=0, le=AMOUNT_CENTS_MAX)]
ShiftId = Annotated[
    str,
    msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?!\n)$"),
]
TAKINGS_KEYS_MAX: Final = 32


class CloseShift(StaffOp, frozen=True, tag="close_shift"):
    """A till's shift as the terminal closed it (terminal/presenters/shift.py): the
    float counted at open, the cash taken in and paid out, the cash counted at close,
    and the takings by kind and tender. The hub records it once by `shift_id`
    (hub/till.py), works out expected and difference itself, and answers `shift_id`."""

    shift_id: ShiftId
    opened_ms: UnixMs  # the device's clock
    closed_ms: UnixMs
    float_cents: TillCents
    cash_in_cents: TillCents
    cash_out_cents: TillCents
    counted_cents: TillCents
    opened_by: Annotated[str, msgspec.Meta(max_length=32)] = ""  # "" a booking opened it
    takings: Annotated[dict[ShortText, TillCents], msgspec.Meta(max_length=TAKINGS_KEYS_MAX)] = {}


class MemberCode(StaffOp, frozen=True, tag="member_qr"):
    """The member's dynamic QR code from the member page, scanned at the counter in
    place of a tap: the hub takes it once (hub/member_qr.py) and answers `card_id` and
    `member_id`, or qr_used | qr_expired | invalid | card_unknown."""

    qr: Annotated[str, msgspec.Meta(min_length=1, max_length=MEMBER_QR_CHARS_MAX)]


# A member's tag at the counter: 1-24 characters, no space at either end.
MEMBER_TAG_CHARS_MAX: Final = 24
MemberTagText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MEMBER_TAG_CHARS_MAX, pattern=r"^\S(.*\S)?(?!\n)$")
]
MEMBER_TAGS_SHOWN_MAX: Final = 64  # hub/tags.py TAGS_PER_MEMBER_MAX


class MemberTag(StaffOp, frozen=True, omit_defaults=True, tag="member_tag"):
    """Add (or, with `remove`, take off) one tag of the member whose card is on the
    reader, a member of the terminal's branch (hub/tags.py, audited as member.tag.add /
    member.tag.remove); a manager's request. Answered with `member_id` and the member's
    `tags` after the change."""

    card_id: CardId
    tag: MemberTagText
    remove: bool = False


AnyStaffOp = (
    LoginChallenge
    | StaffLogin
    | MemberSearch
    | RegisterMember
    | ReportLost
    | ReplaceCard
    | StaffCardLogin
    | ReversePoints
    | RenewWaived
    | UseVoucher
    | GateCard
    | SaleLookup
    | RefundQuote
    | ShowProfile
    | EditMember
    | CloseShift
    | MemberCode
    | MemberTag
)


class StaffRequest(Body, frozen=True, kw_only=True):
    device: DeviceId
    staff: StaffId  # who asks: every change is audited under this id
    session: SessionToken = ""  # from that staff member's login here; logins need none
    op: AnyStaffOp


class MemberRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    member_id: int
    name: Annotated[str, msgspec.Meta(max_length=200)]
    phone: ShortText
    tier: ShortText
    state: ShortText
    cards: Annotated[list[ShortText], msgspec.Meta(max_length=32)] = []


class MemberProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the terminal's edit form shows: the ID number only as its mask."""

    member_id: int
    name: Annotated[str, msgspec.Meta(max_length=200)]
    phone: ShortText
    address: Annotated[str, msgspec.Meta(max_length=500)] = ""
    birthday: dt.date | None = None
    id_number_masked: ShortText = ""


class SaleLineView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line_no: int  # 0-based, what a RefundLine names
    category: ShortText
    sku: ShortText = ""
    unit_price_cents: int
    quantity: int  # as sold
    refunded: int = 0  # by earlier refunds, at any device


class SaleView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A sale as a refund sees it: what it was, what was given back, what still can be."""

    tx_id: ShortText
    kind: ShortText  # purchase | redeem
    card_id: ShortText
    member_id: int
    member_name_masked: ShortText = ""
    created_ms: UnixMs  # when the hub booked it
    payment: ShortText = ""  # cash | stored_value; "" for a redemption
    net_cents: int = 0  # what the member paid
    refunded_cents: int = 0  # money given back so far
    points_earned: int = 0  # a redemption: the points it spent
    item: ShortText = ""  # a redemption: the catalog item
    units: int = 0
    voucher_used: bool = False  # a redemption whose voucher was used: not refundable
    refundable: bool = False
    why_not: Text = ""  # when not refundable, in English
    lines: Annotated[list[SaleLineView], msgspec.Meta(max_length=SALE_LINES_MAX)] = []


class RefundQuoteView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A refund as the hub would book it now: the counter's confirmation shows these."""

    money_cents: int  # given back
    payment: ShortText = ""  # how: cash | stored_value; "" for a redemption
    points: int = 0  # taken back (a redemption: given back)
    points_shortfall: int = 0  # already spent: not taken, an exception for HQ


class StaffReply(Body, frozen=True, kw_only=True, omit_defaults=True):
    """The hub's answer; `error` is "" on success, else bad_pin | locked |
    unknown_staff | no_session | not_allowed | not_found | conflict | duplicate |
    invalid | internal.

    Fields at their defaults stay out of the JSON, so a reply carries what its operation
    sets: a hub can answer a newer operation with newer fields while terminals that
    predate them (which refuse unknown fields) go on reading the replies they ask for."""

    device: DeviceId
    staff: StaffId
    error: ShortText = ""
    message: Text = ""
    name: ShortText = ""  # login: the staff member's name
    role: ShortText = ""  # login: cashier | manager
    session: ShortText = ""  # login: the token later requests and intents carry
    session_expires_ms: UnixMs = 0  # login: hub time the session ends
    challenge: ShortText = ""  # challenge: one-time, for the next login from here
    members: Annotated[list[MemberRow], msgspec.Meta(max_length=STAFF_SEARCH_ROWS_MAX)] = []
    member_id: int = 0
    card_id: ShortText = ""
    credential: Annotated[str, msgspec.Meta(max_length=CREDENTIAL_HEX_CHARS_MAX)] = ""
    fee_cents: int = 0  # register, replace: the fee booked (0 when waived)
    fee_waived: bool = False
    tx_id: ShortText = ""  # reverse: the reversal's transfer id
    points: int = 0  # reverse: the points taken back
    expires_on: dt.date | None = None  # renew_waived: the new expiry
    voucher: ShortText = ""  # voucher: the code accepted, as printed
    item: ShortText = ""  # voucher: the catalog item it was for
    units: int = 0  # voucher: hours of parking, washes, prizes
    # voucher at a gate or bay: the same device's retry of a code it consumed moments
    # ago (its reply was lost), answered as the first time; used_ms is when that was.
    repeat: bool = False
    used_ms: UnixMs = 0
    sale: SaleView | None = None  # sale: what can be refunded
    quote: RefundQuoteView | None = None  # refund_quote: what the refund would give back
    # profile, edit_member: the profile (after the change); edit_member: what changed.
    # register, edit_member refused with error "duplicate": `member_id` and `members`
    # name the member who already has that phone or ID number, masked.
    profile: MemberProfile | None = None
    changed: Annotated[list[ShortText], msgspec.Meta(max_length=8)] = []
    shift_id: ShortText = ""  # close_shift: the shift the hub recorded
    # member_tag: the member's tags after the change
    tags: Annotated[list[ShortText], msgspec.Meta(max_length=MEMBER_TAGS_SHOWN_MAX)] = []
