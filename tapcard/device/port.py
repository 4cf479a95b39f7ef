"""The device as the kiosk and terminal presenters see it: one typed seam.

`DevicePort` is what a presenter may ask of the device runtime (`DeviceRuntime`
implements it, checked by mypy below); presenters never reach into the runtime's link,
document store or reader. The runtime's answers (`LocalReceipt`, `DeviceStatus`) and
the (snapshot, online) pair a caller saw at the tap (`Seen`) are defined here with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

from tapcard.clock import Clock
from tapcard.device.bundle import Bundle
from tapcard.device.catalog import DeviceCatalog
from tapcard.device.intents import StaffBadge
from tapcard.device.policy import Verdict
from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import Payment
from tapcard.domain.rules import RuleSet
from tapcard.readers.base import CardTap
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason

# (snapshot, online) as the caller got it at the tap: None when the card was never seen.
Seen = tuple[m.Snapshot | None, bool]


@dataclass(frozen=True, slots=True)
class LocalReceipt:
    """What the device decided: accepted (committed to the outbox) or refused."""

    accepted: bool
    reason: Reason
    message: str
    offline: bool
    tx_id: uuid.UUID | None = None
    seq: int = 0
    points: int = 0  # what it takes off the card, as the device reckons
    cents: int = 0


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    reader: str
    reader_detail: str
    link_connected: bool
    outbox_depth: int
    outbox_oldest_age_s: int
    inflight: int
    rules_version: int
    denylist_version: int
    last_sync_ms: int
    software_version: str
    alarms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transaction as the screen reports it: the device's receipt, then the hub's
    result when it came in time (None offline, or when the hub was slow)."""

    receipt: LocalReceipt
    result: m.TxResult | None


class DevicePort(Protocol):
    """The device runtime's calls a presenter makes (from its worker thread, except the
    properties and `is_online`, which only read memory)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def bundle(self) -> Bundle: ...

    @property
    def rules(self) -> RuleSet | None: ...

    @property
    def catalog(self) -> DeviceCatalog: ...  # the hub's products as last received

    def is_online(self) -> bool: ...

    def set_staff(self, badge: StaffBadge | None) -> None: ...

    def status(self) -> DeviceStatus: ...

    def identify(self, tap: CardTap) -> str: ...

    def snapshot(self, card_id: str) -> Seen: ...

    def member_code_snapshot(self, card_id: str, qr: str) -> Seen | None: ...

    def check(self, card_id: str, op: m.AnyOp, seen: Seen | None = None) -> Verdict: ...

    def submit(
        self, card_id: str, op: m.AnyOp, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt:
        """Decide and queue any op (a sale split over tenders, say) as the calls below do."""
        ...

    def quote_sale(
        self, snapshot: m.Snapshot, lines: Sequence[SaleLine], on: dt.date | None = None
    ) -> SaleQuote: ...

    def purchase(
        self,
        card_id: str,
        lines: Sequence[SaleLine],
        payment: Payment = Payment.CASH,
        receipt_no: str = "",
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt: ...

    def top_up(
        self, card_id: str, amount_cents: int, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt: ...

    def spend(
        self, card_id: str, amount_cents: int, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt: ...

    def redeem(
        self, card_id: str, item: str, units: int = 1, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt: ...

    def backfill(
        self,
        card_id: str,
        receipt_no: str,
        receipt_on: dt.date,
        lines: Sequence[SaleLine],
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt: ...

    def refund(
        self, card_id: str, op: m.Refund, staff: str = "", seen: Seen | None = None
    ) -> LocalReceipt: ...

    def renew(
        self,
        card_id: str,
        payment: Payment = Payment.CASH,
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt: ...

    def wait_result(self, tx_id: uuid.UUID, timeout_s: float) -> m.TxResult | None: ...

    def load_doc(self, name: str) -> object:
        """A document the device keeps (JSON builtins), None when there is none."""
        ...

    def save_doc(self, name: str, doc: object) -> None: ...

    def write_card(self, credential: bytes, timeout_ms: int) -> None:
        """Write a credential to the card on the reader, read it back and compare."""
        ...


def settle(port: DevicePort, receipt: LocalReceipt, wait_s: float) -> Outcome:
    """The receipt and, when it went online, the hub's result within `wait_s`."""
    result = None
    if receipt.accepted and not receipt.offline and receipt.tx_id is not None:
        result = port.wait_result(receipt.tx_id, wait_s)
    return Outcome(receipt, result)


if TYPE_CHECKING:
    from tapcard.device.runtime import DeviceRuntime

    def _runtime_is_a_port(runtime: DeviceRuntime) -> DevicePort:
        return runtime  # mypy fails here when the runtime stops fitting the port
