"""What the terminal's screens show: the screen names and the view models the presenters
hand to the app (frozen dataclasses of display text; the app only copies them into
Kivy properties)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tapcard.domain.model import StaffRole


class Screen(enum.StrEnum):
    LOGIN = "login"
    HOME = "home"
    SALE = "sale"
    RECEIPT = "receipt"
    MESSAGE = "message"
    MEMBERS = "members"
    SHIFT = "shift"
    BACKFILL = "backfill"
    RENEWAL = "renewal"
    REVERSAL = "reversal"
    REFUND = "refund"
    REFUND_CONFIRM = "refund_confirm"
    PROFILE = "profile"
    REGISTER = "register"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True)
class Staff:
    staff_id: str
    name: str
    role: StaffRole
    offline: bool  # logged in against the cache
    session: str = ""  # the hub's session of an online login: staff requests carry it

    @property
    def manager(self) -> bool:
        return self.role == StaffRole.MANAGER


@dataclass(frozen=True, slots=True)
class Header:
    staff: str
    card: str
    queue: str  # "Queue: 3 · offline"
    online: bool


@dataclass(frozen=True, slots=True)
class LoginView:
    title: str
    message: str


@dataclass(frozen=True, slots=True)
class HomeView:
    header: Header
    member: str  # name, tier, points, stored value of the card on the reader
    manager: bool


@dataclass(frozen=True, slots=True)
class SaleRow:
    """One line of the sale: the product's name in the current language (or the free
    amount's category), price and quantity, and the member price when one applies."""

    label: str
    quantity: int
    sku: str = ""  # "" for a free amount


@dataclass(frozen=True, slots=True)
class PickRow:
    """A product the picker found: touched, it adds its line."""

    sku: str
    label: str


@dataclass(frozen=True, slots=True)
class SaleView:
    header: Header
    lines: tuple[str, ...]
    totals: tuple[str, ...]  # gross, savings, discounts, net, points, remainder, excluded
    can_pay: bool
    rows: tuple[SaleRow, ...] = ()  # the lines, with their quantities for the +/- keys
    note: str = ""  # why a scan or entry added nothing (an unknown barcode)
    query: str = ""  # the picker's search text ("": closed)
    picker: tuple[PickRow, ...] = ()
    free_amounts: bool = False  # the category + amount entry is offered
    due: str = ""  # "To pay ¥X" (or the total before a card), kept in sight while typing


@dataclass(frozen=True, slots=True)
class ReceiptView:
    header: Header
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MessageView:
    header: Header
    title: str
    detail: str
    error: bool


@dataclass(frozen=True, slots=True)
class MembersView:
    header: Header
    rows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BackfillView:
    header: Header
    member: str
    lines: tuple[str, ...]  # the receipt as entered, then the points or why not
    can_submit: bool
    refused: bool


@dataclass(frozen=True, slots=True)
class RenewalView:
    header: Header
    member: str
    lines: tuple[str, ...]  # valid until now, after renewal, the fee, the stored value
    can_cash: bool
    can_stored_value: bool
    can_waive: bool  # a manager may renew with the fee waived (online, at the hub)


@dataclass(frozen=True, slots=True)
class ReversalView:
    header: Header
    ref: str  # the last receipt's reference, to start from
    lines: tuple[str, ...]
    manager: bool


@dataclass(frozen=True, slots=True)
class RefundRow:
    """One line of the sale being refunded: what it was and how many come back."""

    line_no: int
    label: str  # category, unit price, quantity sold, refunded before
    picked: int  # how many the cashier gives back now
    left: int  # still refundable


@dataclass(frozen=True, slots=True)
class RefundView:
    header: Header
    ref: str  # as typed or scanned
    reason: str
    sale: tuple[str, ...]  # the sale found (member, when, paid), or why there is none
    rows: tuple[RefundRow, ...]
    can_lookup: bool  # online: the hub can be asked
    can_pick: bool  # a refundable sale with lines
    can_review: bool  # something picked (or a whole redemption) and a reason
    warn: bool  # the text above is a refusal or the offline notice


@dataclass(frozen=True, slots=True)
class RefundConfirmView:
    header: Header
    member: str  # masked name and card
    lines: tuple[str, ...]  # what comes back, line by line
    totals: tuple[str, ...]  # money given back and how, points taken back or restored


@dataclass(frozen=True, slots=True)
class ProfileView:
    """A member's profile form: the values (current, or as typed), an error beside each
    field that has one, then a confirmation of what changes; or, when a registration
    found the phone or ID already a member's, that member and a button to open them."""

    header: Header
    member_id: int
    values: tuple[tuple[str, str], ...]  # (field, value): name, phone, address, birthday
    id_number_masked: str
    errors: tuple[tuple[str, str], ...] = ()  # (field, translated error)
    confirm: tuple[str, ...] = ()  # "Phone: old -> new", when asking to confirm
    duplicate: str = ""  # "Already a member: ..."; the button opens `member_id`


@dataclass(frozen=True, slots=True)
class RegisterView:
    """The registration form: the values as typed (never the ID number), the choice of
    joining by fee or by spend, an error beside each field that has one, then the
    confirmation of who joins and on what terms."""

    header: Header
    values: tuple[tuple[str, str], ...]  # (field, value): name, phone, birthday
    by_spend: bool  # joining by spend is chosen (else by the fee)
    can_by_spend: bool  # the rules offer joining by spend
    can_waive: bool  # a manager, joining by the fee
    waive_fee: bool
    terms: str  # the fee in yuan, or the spend threshold and its window
    errors: tuple[tuple[str, str], ...] = ()  # (field, translated error); "" for the form
    confirm: tuple[str, ...] = ()  # name, phone masked, terms: when asking to confirm


@dataclass(frozen=True, slots=True)
class ConfirmView:
    """Before anything that moves money, points or card state: whose card, what it does
    and the amounts; a redemption by the hour also has its number of units to choose."""

    header: Header
    title: str
    member: str  # masked name and card id, or "#id name" of a card found at the hub
    lines: tuple[str, ...]  # the amount, the balance now and after
    units: int = 0  # the hours of parking chosen (0: nothing to choose)
    units_max: int = 0
    tenders: str = ""  # the tender bar's target when the tenders are chosen here (top-up)
    note: str = ""  # why the tenders typed cannot pay it (also the last line)


TerminalView = (
    LoginView
    | HomeView
    | SaleView
    | ReceiptView
    | MessageView
    | MembersView
    | BackfillView
    | RenewalView
    | ReversalView
    | RefundView
    | RefundConfirmView
    | ProfileView
    | RegisterView
    | ConfirmView
)
