"""One schema per message type (msgspec), validated on receipt, sizes bounded.

Bodies are signed inside an envelope (see `envelope`). Every body carries `v`, the
protocol version; a receiver rejects versions it does not know.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Final

import msgspec

from tapcard.cards.member_code import CODE_CHARS_MAX
from tapcard.domain.engine import SALE_LINE_QUANTITY_MAX, SALE_LINES_MAX, SaleLine
from tapcard.domain.model import FeeKind, Payment
from tapcard.domain.products import PRODUCTS_MAX, Product
from tapcard.domain.rules import RuleSet
from tapcard.domain.tenders import TENDER_REF_CHARS_MAX, TENDERS_MAX, Tendered

PAYLOAD_BYTES_MAX: Final = 64 * 1024  # an envelope; a rule set is the largest body
RULES_PAYLOAD_BYTES_MAX: Final = 1024 * 1024
DENYLIST_CARDS_MAX: Final = 100_000
# 100,000 ids of up to 32 characters, escaped inside the envelope's body text.
DENYLIST_PAYLOAD_BYTES_MAX: Final = 4 * 1024 * 1024
# What a broker accepts in one MQTT packet: the largest body plus topic and properties.
# Larger packets are refused at the broker, so no client reads them into memory.
PACKET_BYTES_MAX: Final = DENYLIST_PAYLOAD_BYTES_MAX + 64 * 1024
# PRODUCTS_MAX products of ~300 bytes each (names in Chinese as UTF-8, a few tier prices).
PRODUCTS_PAYLOAD_BYTES_MAX: Final = 2 * 1024 * 1024
assert RULES_PAYLOAD_BYTES_MAX < PRODUCTS_PAYLOAD_BYTES_MAX < DENYLIST_PAYLOAD_BYTES_MAX
assert PAYLOAD_BYTES_MAX < RULES_PAYLOAD_BYTES_MAX < DENYLIST_PAYLOAD_BYTES_MAX < PACKET_BYTES_MAX
AMOUNT_CENTS_MAX: Final = 100_000_000

# (?!\n)$: Python's $ also matches before a final newline; JSON Schema's does not.
DeviceId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}(?!\n)$")]
CardId = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+(?!\n)$")]
ShortText = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
AmountCents = Annotated[int, msgspec.Meta(ge=1, le=AMOUNT_CENTS_MAX)]
UnixMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
# A staff session or login challenge as the hub issues it: 32 url-safe base64 characters.
SessionToken = Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z0-9_-]{32})?(?!\n)$")]


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    v: int = 1


# --- transaction intents (device -> hub, tapcard/v1/dev/{device}/tx) ---------------


class Op(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"):
    """What a transaction intent asks for; the tag is the `kind` field."""


class TenderPart(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One tender of a split payment, with the provider's reference as the cashier typed
    or scanned it (bank card, WeChat Pay, Alipay)."""

    payment: Payment
    amount_cents: AmountCents
    ref: Annotated[str, msgspec.Meta(max_length=TENDER_REF_CHARS_MAX)] = ""

    def tendered(self) -> Tendered:
        return Tendered(self.payment, self.amount_cents, self.ref.strip())


# Split payment (tapcard.domain.tenders): no parts, the op's one tender pays the whole
# amount; otherwise the parts pay it, summing exactly to the amount due (the hub refuses
# anything else and books nothing), and `payment` names the first part's tender, what a
# reader from before splits books. The ops omit empty defaults, so an op without parts
# encodes exactly as before (old readers read it).
Tenders = Annotated[list[TenderPart], msgspec.Meta(max_length=TENDERS_MAX)]


class Purchase(Op, frozen=True, omit_defaults=True, tag="purchase"):
    lines: Annotated[list[SaleLine], msgspec.Meta(min_length=1, max_length=SALE_LINES_MAX)]
    payment: Payment
    receipt_no: ShortText = ""
    tenders: Tenders = []


class TopUp(Op, frozen=True, omit_defaults=True, tag="topup"):
    amount_cents: AmountCents
    tenders: Tenders = []  # none: cash; never stored value


class Spend(Op, frozen=True, tag="spend"):
    amount_cents: AmountCents


class Redeem(Op, frozen=True, tag="redeem"):
    item: ShortText
    units: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1


class Backfill(Op, frozen=True, tag="backfill"):
    receipt_no: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    receipt_on: dt.date
    lines: Annotated[list[SaleLine], msgspec.Meta(min_length=1, max_length=SALE_LINES_MAX)]


class Fee(Op, frozen=True, omit_defaults=True, tag="fee"):
    fee: FeeKind
    payment: Payment
    tenders: Tenders = []


class Renewal(Op, frozen=True, omit_defaults=True, tag="renewal"):
    payment: Payment
    tenders: Tenders = []


def parts_of(op: Purchase | TopUp | Fee | Renewal) -> tuple[Tendered, ...]:
    return tuple(part.tendered() for part in op.tenders)


# A transfer id or a receipt number, as staff type or scan it from the original receipt.
SaleRef = Annotated[str, msgspec.Meta(min_length=3, max_length=64)]
RefundReason = Annotated[str, msgspec.Meta(min_length=3, max_length=200)]


class RefundLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line_no: Annotated[int, msgspec.Meta(ge=0, lt=SALE_LINES_MAX)]  # 0-based, as sold
    quantity: Annotated[int, msgspec.Meta(ge=1, le=SALE_LINE_QUANTITY_MAX)]  # coming back


class Refund(Op, frozen=True, kw_only=True, tag="refund"):
    """Give back (part of) a purchase or a redemption, found by `ref`. No lines: all that
    is still refundable. The hub prices it by the sale's own rule version and tier."""

    ref: SaleRef
    lines: Annotated[list[RefundLine], msgspec.Meta(max_length=SALE_LINES_MAX)] = []
    reason: RefundReason


AnyOp = Purchase | TopUp | Spend | Redeem | Backfill | Fee | Renewal | Refund

MEMBER_QR_CHARS_MAX: Final = CODE_CHARS_MAX
MemberCodeText = Annotated[str, msgspec.Meta(max_length=MEMBER_QR_CHARS_MAX)]


class TxIntent(Body, frozen=True, kw_only=True):
    tx_id: uuid.UUID  # made on the device; the idempotency key
    device: DeviceId
    seq: Seq  # per-device, gapless from 1
    created_ms: UnixMs  # device clock
    card_id: CardId
    rules_version: Annotated[int, msgspec.Meta(ge=1)]
    offline: bool = False  # decided by the device's offline policy
    staff: ShortText = ""  # who rang it up at a terminal
    # The hub's session token of that staff member's online login at this terminal, or
    # "" with staff_offline when the terminal's cache let them in (hub/staff_sessions.py).
    staff_session: SessionToken = ""
    staff_offline: bool = False
    # The member's QR code the device took offline in place of a tap of this card
    # (tapcard/device/member_codes.py), "" for a tap or a code the hub took: the hub
    # records its nonce and books a code taken at two places as an exception.
    member_code: MemberCodeText = ""
    op: AnyOp


# --- results (hub -> device, tapcard/v1/dev/{device}/result) -----------------------


class Balances(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    points: int
    growth: int
    stored_value_cents: int


class TxResult(Body, frozen=True, kw_only=True, omit_defaults=True):
    """One intent's answer. Fields at their default are not written, so a field added
    later reaches a reader from before it only when it is set (docs/protocol/README.md)."""

    # The nil UUID and seq 0 when the intent could not be read far enough to find them.
    tx_id: uuid.UUID
    device: DeviceId
    seq: Count
    accepted: bool
    reason: int  # tapcard.wire.codes.Reason
    message: Text = ""
    rules_version: int = 0
    card_id: str = ""
    balances: Balances | None = None
    tier: ShortText = ""
    net_cents: int = 0
    discount_cents: int = 0
    points_earned: int = 0
    points_spent: int = 0
    voucher: ShortText = ""
    offline_exception: bool = False  # applied beyond the offline policy: recorded for HQ
    # The hub priced a line by SKU otherwise than the device did (its product catalog was
    # older): booked at the hub's price, recorded for HQ as a catalog_price exception.
    price_changed: bool = False
    applied_ms: UnixMs = 0


class TxResults(Body, frozen=True, kw_only=True):
    """What the result topic carries: the results of one hub batch for one device, so
    that one signature covers many results."""

    device: DeviceId
    results: Annotated[list[TxResult], msgspec.Meta(min_length=1, max_length=64)]


RESULTS_PER_MESSAGE_MAX: Final = 64  # ~64 x 600 bytes stays well inside PAYLOAD_BYTES_MAX


# --- presence and health ----------------------------------------------------------


class Status(Body, frozen=True, kw_only=True):
    device: DeviceId
    online: bool
    at_ms: UnixMs


class Health(Body, frozen=True, kw_only=True):
    device: DeviceId
    at_ms: UnixMs
    software_version: ShortText
    rules_version: int = 0
    denylist_version: int = 0
    reader: ShortText = "ok"  # ok | no_reader | fault
    reader_detail: Text = ""
    outbox_depth: Count = 0
    outbox_oldest_age_s: Count = 0
    last_sync_ms: UnixMs = 0
    disk_free_bytes: Count = 0
    seq_last: Count = 0  # the highest sequence number the device has made
    alarms: Annotated[list[ShortText], msgspec.Meta(max_length=32)] = []


class Resend(Body, frozen=True, kw_only=True):
    """The hub lacks this device's intents from `from_seq` on (it was restored from a
    backup): send them again, answered or not. The hub applies each once by its id."""

    device: DeviceId
    from_seq: Seq
    reason: Text = ""


# --- snapshots (request/response) --------------------------------------------------


# The chip UID a device read the card from, hex; "" from devices that predate it.
SeenUidHex = Annotated[str, msgspec.Meta(pattern=r"^(([0-9a-f]{2}){4,10})?(?!\n)$")]


class SnapshotQuery(Body, frozen=True, kw_only=True):
    device: DeviceId
    card_id: CardId
    # The hub compares it with the card's issued UID: two UIDs for one card id is a
    # suspected clone (hub/clones.py).
    uid: SeenUidHex = ""
    # The device reads the member's segments in the snapshot (older devices refuse a
    # snapshot with fields they do not know, so the hub sends them only when asked).
    segments: bool = False
    # The member's dynamic QR code scanned in place of a tap (hub/member_qr.py), card_id
    # then the card its text names: the hub takes the code once and answers that card's
    # snapshot, or found=False with a MEMBER_QR_* reason. Older devices never send it.
    qr: MemberCodeText = ""


SNAPSHOT_SEGMENTS_MAX: Final = 200  # as RULES_CAMPAIGNS_MAX: one control group a campaign
Codes = Annotated[list[ShortText], msgspec.Meta(max_length=SNAPSHOT_SEGMENTS_MAX)]


class Snapshot(Body, frozen=True, kw_only=True, omit_defaults=True):
    card_id: str
    found: bool
    reason: int = 0
    state: ShortText = ""
    kind: ShortText = ""
    program: ShortText = ""  # a category or co-branded card's: where it earns
    member_name_masked: ShortText = ""
    tier: ShortText = ""
    next_tier: ShortText = ""
    growth_to_next: int = 0
    balances: Balances | None = None
    expires_on: dt.date | None = None
    as_of_ms: UnixMs = 0
    # For quotes like the hub's (new-member discount, birthday bonus; birthday as MM-DD).
    joined_on: dt.date | None = None
    birthday_md: Annotated[str, msgspec.Meta(pattern=r"^(\d\d-\d\d)?$")] = ""
    real_name: bool = False  # ID number checked: the stored-value policy's higher limits
    points_expiring: Count = 0  # the next points to expire (hub/point_buckets.py)
    points_expire_on: dt.date | None = None  # their last day; None: none will expire
    # Targeted campaigns offline (tapcard/domain/targeting.py): the member's segment codes
    # and the campaigns whose control group holds them; only to a device that asked.
    segments: Codes = []
    held_out: Codes = []


# --- retained configuration (hub -> devices) ----------------------------------------


class RulesDoc(Body, frozen=True, kw_only=True):
    version: int
    published_ms: UnixMs
    rules: RuleSet


class ProductCatalog(Body, frozen=True, kw_only=True):
    """The hub's product catalog (hub/products.py): devices show and scan from it; the
    hub prices the sales by it whatever a device sends (tapcard.domain.products)."""

    version: int
    published_ms: UnixMs
    products: Annotated[list[Product], msgspec.Meta(max_length=PRODUCTS_MAX)]


class DenyList(Body, frozen=True, kw_only=True):
    version: int
    published_ms: UnixMs
    cards: Annotated[list[CardId], msgspec.Meta(max_length=DENYLIST_CARDS_MAX)]
