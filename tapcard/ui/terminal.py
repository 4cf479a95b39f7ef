"""The counter terminal's presenter: staff login, sale, stored value, redemption, members,
cards and the shift summary, without Kivy.

Staff log in with a PIN or by tapping a staff card (card id `S-<staff id>`, its credential
verified with the issuer key like a member card's). Online the hub checks the PIN
(`StaffLogin`) or that the card's owner is active (`StaffCardLogin`); the terminal then
keeps an scrypt hash of that PIN with its own salt, or the staff card's UID, so the same
person can log in the same way while the hub is unreachable for LOGIN_CACHE_AGE_S_MAX.
Manager-only (checked by the hub): points reversal, fee waivers, card replacement.
The terminal locks itself after LOCK_AFTER_S without a touch. Every transaction and staff
request carries the staff id (audit).
Money and points go through the device runtime (offline policy, outbox, queue count);
member and card administration goes to the hub over the staff channel (`StaffLink`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from tapcard.clock import Clock
from tapcard.clock import today as clock_today
from tapcard.domain import engine
from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import STAFF_CARD_PREFIX, FeeKind, Payment
from tapcard.errors import TapcardError
from tapcard.ui import fmt
from tapcard.ui.i18n import LANGUAGE_DEFAULT, Translator
from tapcard.ui.kiosk import REFUSALS
from tapcard.ui.worker import Post, Tap, Worker
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason

LOCK_AFTER_S: Final = 120.0  # auto-lock after this long without a touch
LOGIN_CACHE_AGE_S_MAX: Final = 7 * 24 * 3600  # offline login works this long after online
LOGIN_CACHE_DOC: Final = "staff_logins"
STAFF_TIMEOUT_S: Final = 5.0  # a staff request waits this long for the hub
RESULT_WAIT_S: Final = 5.0
CARD_WRITE_TIMEOUT_MS: Final = 3000
SALE_LINES_SHOWN_MAX: Final = 12
SCRYPT_N: Final = 2**14
assert STAFF_TIMEOUT_S < LOCK_AFTER_S

LOGIN, HOME, SALE, RECEIPT, MESSAGE, MEMBERS, SHIFT, BACKFILL, RENEWAL, REVERSAL = (
    "login",
    "home",
    "sale",
    "receipt",
    "message",
    "members",
    "shift",
    "backfill",
    "renewal",
    "reversal",
)
SCREENS: Final = (
    LOGIN,
    HOME,
    SALE,
    RECEIPT,
    MESSAGE,
    MEMBERS,
    SHIFT,
    BACKFILL,
    RENEWAL,
    REVERSAL,
)
REASON_LEN_MIN: Final = 3
RECEIPT_NO_LEN_MAX: Final = 64
CATEGORIES: Final = ("grocery", "fuel", "car_wash", "service", "group_buy", "special_offer")
_STAFF_ERRORS: Final = {
    "bad_pin": "Wrong PIN",
    "unknown_staff": "Unknown staff member",
    "not_allowed": "A manager must do this",
    "not_found": "Not found",
    "conflict": "Not possible in the card's state",
    "invalid": "Please check the entries",
}


_VOUCHER_ERRORS: Final = {
    "not_found": "Unknown voucher",
    "conflict": "Voucher already used",
    "invalid": "Not a voucher code",
}
_SHIFT_LABELS: Final = {"fee_waived": "Fees waived", "voucher": "Vouchers accepted"}


# Refusals the kiosk never meets: their own titles here (English msgids).
_TERMINAL_REASONS: Final = {
    Reason.BACKFILL_WINDOW: "Receipt outside the backfill window",
    Reason.RECEIPT_USED: "This receipt already earned points",
    Reason.INSUFFICIENT_FUNDS: "Not enough stored value",
}


class StaffLink(Protocol):
    def request(self, staff: str, op: m.AnyStaffOp, timeout_s: float) -> m.StaffReply | None: ...


@dataclass(frozen=True, slots=True)
class Staff:
    staff_id: str
    name: str
    role: str
    offline: bool  # logged in against the cache


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
class SaleView:
    header: Header
    lines: tuple[str, ...]
    totals: tuple[str, ...]  # gross, savings, discounts, net, points, remainder, excluded
    can_pay: bool


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


@dataclass(slots=True)
class _Card:
    tap: Tap
    snapshot: m.Snapshot | None = None
    online: bool = False


@dataclass(slots=True)
class _Shift:
    started_ms: int
    counts: Counter[str] = field(default_factory=Counter)
    cents: Counter[str] = field(default_factory=Counter)
    points: int = 0


def hash_pin(pin: str, salt: bytes) -> str:
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=8, p=1, dklen=32)
    return f"{salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    salt, _, _digest = stored.partition("$")
    try:
        return hmac.compare_digest(hash_pin(pin, bytes.fromhex(salt)), stored)
    except ValueError:
        return False


class TerminalPresenter:
    def __init__(
        self,
        runtime: Any,
        staff_link: StaffLink,
        post: Post,
        on_view: Callable[[str, Any], None],
        lang: str = LANGUAGE_DEFAULT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.wall: Clock = runtime.clock  # dates and cached logins; `clock` times idleness
        self.link = staff_link
        self.on_view = on_view
        self.t = Translator(lang)
        self.clock = clock
        self.worker = Worker("terminal-worker", post)
        self.staff: Staff | None = None
        self.card: _Card | None = None
        self.lines: list[SaleLine] = []
        self.quote: SaleQuote | None = None
        self.queue_depth = 0
        self.shift = _Shift(self.wall.now_ms())
        self.last_touch = clock()
        self.screen = LOGIN
        self.view: Any = None
        self.last_receipt: Any = None
        self.backfill_entry: tuple[str, str, str, str] = ("", "", CATEGORIES[0], "")
        self._show(LOGIN, LoginView(self.t("Staff login"), ""))

    def stop(self) -> None:
        self.worker.stop()

    # --- plumbing ---------------------------------------------------------------------

    def _show(self, screen: str, view: Any) -> None:
        assert screen in SCREENS
        self.screen, self.view = screen, view
        self.on_view(screen, view)

    def header(self) -> Header:
        t, online = self.t, bool(self.runtime.link.connected)
        staff = f"{self.staff.name} ({t(self.staff.role)})" if self.staff else ""
        card = self.card.tap.card_id if self.card and self.card.tap.card_id else ""
        if self.card and self.card.tap.blank:
            card = t("Blank card")
        state = t("online") if online else t("offline")
        return Header(staff, card, t("Queue: {n}", n=self.queue_depth) + f" · {state}", online)

    def touch(self) -> None:
        self.last_touch = self.clock()

    def tick(self) -> None:
        """Called every few seconds by the app: auto-lock and the queue count."""
        if self.staff is not None and self.clock() - self.last_touch > LOCK_AFTER_S:
            self.lock()
        self.worker.submit(lambda: self.runtime.status().outbox_depth, self._got_depth)

    def _got_depth(self, depth: Any) -> None:
        if isinstance(depth, int) and depth != self.queue_depth:
            self.queue_depth = depth
            if self.screen == HOME:
                self.home()

    def set_language(self, lang: str) -> None:
        self.t = Translator(lang)
        if self.screen == LOGIN:
            self._show(LOGIN, LoginView(self.t("Staff login"), ""))
        elif self.screen == HOME:
            self.home()
        elif self.screen == SALE:
            self.requote()
        elif self.screen == BACKFILL:
            self.check_backfill(*self.backfill_entry)
        elif self.screen == RENEWAL:
            self.renewal()
        elif self.screen == REVERSAL:
            self.reversal_form()

    def toggle_language(self) -> None:
        self.set_language(self.t.other())

    def _message(self, title: str, detail: str = "", error: bool = True) -> None:
        self._show(MESSAGE, MessageView(self.header(), title, detail, error))

    def _guard(self) -> bool:
        self.touch()
        if self.staff is None:
            self._show(LOGIN, LoginView(self.t("Staff login"), ""))
            return False
        return True

    # --- login --------------------------------------------------------------------------

    def login(self, staff_id: str, pin: str) -> None:
        staff_id, pin = staff_id.strip().lower(), pin.strip()
        if not staff_id or not pin.isdigit():
            self._show(LOGIN, LoginView(self.t("Staff login"), self.t("Wrong PIN")))
            return
        self.worker.submit(lambda: self._login(staff_id, pin), self._logged_in)

    def _login(self, staff_id: str, pin: str) -> Staff | str:
        reply = None
        if self.runtime.link.connected:
            reply = self.link.request(staff_id, m.StaffLogin(pin=pin), STAFF_TIMEOUT_S)
        cache: dict[str, Any] = dict(self.runtime.docs.get(LOGIN_CACHE_DOC) or {})
        if reply is not None:
            if reply.error:
                cache.pop(staff_id, None)  # a changed or revoked PIN stops working offline
                self.runtime.docs.put(LOGIN_CACHE_DOC, cache)
                return _STAFF_ERRORS.get(reply.error, "Wrong PIN")
            kept = dict(cache.get(staff_id) or {})  # keeps a cached staff card
            kept.update(
                name=reply.name,
                role=reply.role,
                pin=hash_pin(pin, os.urandom(16)),
                at_ms=self.wall.now_ms(),
            )
            cache[staff_id] = kept
            self.runtime.docs.put(LOGIN_CACHE_DOC, cache)
            return Staff(staff_id, reply.name, reply.role, offline=False)
        entry = cache.get(staff_id)
        fresh = entry and self.wall.now_ms() - int(entry["at_ms"]) < LOGIN_CACHE_AGE_S_MAX * 1000
        if entry and fresh and check_pin(pin, str(entry.get("pin", ""))):
            return Staff(staff_id, str(entry["name"]), str(entry["role"]), offline=True)
        return "Offline: this login has not been checked by the hub yet"

    def _logged_in(self, result: Any) -> None:
        if isinstance(result, Staff):
            self.staff = result
            self.shift = _Shift(self.wall.now_ms())
            self.touch()
            self.home()
            return
        text = result if isinstance(result, str) else "Wrong PIN"
        self._show(LOGIN, LoginView(self.t("Staff login"), self.t(text)))

    def card_login(self, tap: Tap) -> None:
        """A staff card on the reader at the login screen."""
        staff_id = tap.card_id[len(STAFF_CARD_PREFIX) :].lower()
        uid = tap.raw.uid.hex() if tap.raw is not None else ""
        if not staff_id or not uid:
            self._show(LOGIN, LoginView(self.t("Staff login"), self.t("Unknown staff member")))
            return
        self.worker.submit(lambda: self._card_login(staff_id, tap.card_id, uid), self._logged_in)

    def _card_login(self, staff_id: str, card_id: str, uid: str) -> Staff | str:
        reply = None
        if self.runtime.link.connected:
            op = m.StaffCardLogin(card_id=card_id, uid=uid)
            reply = self.link.request(staff_id, op, STAFF_TIMEOUT_S)
        cache: dict[str, Any] = dict(self.runtime.docs.get(LOGIN_CACHE_DOC) or {})
        if reply is not None:
            if reply.error:
                cache.pop(staff_id, None)
                self.runtime.docs.put(LOGIN_CACHE_DOC, cache)
                return _STAFF_ERRORS.get(reply.error, "Unknown staff member")
            kept = dict(cache.get(staff_id) or {})  # keeps a cached PIN
            kept.update(name=reply.name, role=reply.role, card_uid=uid, at_ms=self.wall.now_ms())
            cache[staff_id] = kept
            self.runtime.docs.put(LOGIN_CACHE_DOC, cache)
            return Staff(staff_id, reply.name, reply.role, offline=False)
        entry = cache.get(staff_id)
        fresh = entry and self.wall.now_ms() - int(entry["at_ms"]) < LOGIN_CACHE_AGE_S_MAX * 1000
        if entry and fresh and hmac.compare_digest(str(entry.get("card_uid", "")), uid):
            return Staff(staff_id, str(entry["name"]), str(entry["role"]), offline=True)
        return "Offline: this login has not been checked by the hub yet"

    def lock(self) -> None:
        self.staff = None
        self.card = None
        self.lines = []
        self._show(LOGIN, LoginView(self.t("Staff login"), self.t("Locked")))

    # --- the card on the reader -------------------------------------------------------

    def on_tap(self, tap: Tap) -> None:
        if tap.card_id.startswith(STAFF_CARD_PREFIX):
            if self.staff is None and self.screen == LOGIN:
                self.card_login(tap)
            return  # a staff card is never a member's card
        self.card = _Card(tap)
        if tap.error is not None or tap.blank:
            if self.screen == HOME:
                self.home()
            return
        self.worker.submit(lambda: self.runtime.snapshot(tap.card_id), self._got_snapshot)

    def _got_snapshot(self, result: Any) -> None:
        if self.card is None or isinstance(result, Exception):
            return
        self.card.snapshot, self.card.online = result
        if self.screen in (HOME, SALE):
            self.requote() if self.screen == SALE else self.home()

    def on_removed(self) -> None:
        """The member's card stays selected until the next tap: staff work on after."""

    def member_text(self) -> str:
        t, card = self.t, self.card
        if card is None:
            return t("Tap the member's card")
        if card.tap.blank:
            return t("Blank card: ready to issue")
        if card.tap.error is not None:
            return t(REFUSALS["forged"][0])
        snap = card.snapshot
        if snap is None or not snap.found:
            return t("Looking up the card…") if snap is None else t(REFUSALS["unknown"][0])
        bal = snap.balances or m.Balances(points=0, growth=0, stored_value_cents=0)
        parts = [
            f"{snap.member_name_masked} · {t(snap.tier.capitalize())} · "
            + t(snap.state.capitalize()),
            t("Points")
            + f" {fmt.points(bal.points)} · "
            + t("Stored value")
            + f" {fmt.money(bal.stored_value_cents)}",
            t("Valid until") + f" {snap.expires_on}",
        ]
        if not card.online:
            parts.append(t("As of {time}", time=fmt.clock(snap.as_of_ms)))
        return "\n".join(parts)

    def home(self) -> None:
        if not self._guard():
            return
        assert self.staff is not None
        manager = self.staff.role == "manager"
        self._show(HOME, HomeView(self.header(), self.member_text(), manager))

    def _card_id(self) -> str | None:
        card = self.card
        if card is None or not card.tap.card_id or card.snapshot is None:
            self._message(self.t("Tap the member's card"))
            return None
        return card.tap.card_id

    # --- sale ---------------------------------------------------------------------------

    def sale(self) -> None:
        if self._guard():
            self.requote()

    def category_labels(self) -> list[str]:
        """The category picker's entries, in the current language."""
        return [self.t(code) for code in CATEGORIES]

    def category_code(self, text: str) -> str:
        """The category for a picker entry (a label in either language, or the code)."""
        for code in CATEGORIES:
            if text in (code, self.t(code), Translator("en")(code)):
                return code
        return text

    def add_line(self, category: str, amount_text: str, quantity: int = 1) -> None:
        self.touch()
        category = self.category_code(category)
        cents = fmt.parse_money(amount_text)
        if cents is None or cents <= 0 or category not in CATEGORIES:
            self._message(self.t("Please check the entries"))
            return
        if len(self.lines) < SALE_LINES_SHOWN_MAX:
            self.lines.append(SaleLine(category, cents, quantity))
        self.requote()

    def clear_sale(self) -> None:
        self.lines = []
        self.requote()

    def requote(self) -> None:
        t, card = self.t, self.card
        self.quote = None
        if self.lines and card is not None and card.snapshot is not None and card.snapshot.found:
            try:
                self.quote = self.runtime.quote_sale(card.snapshot, self.lines)
            except TapcardError:
                self.quote = None
        lines = tuple(
            f"{t(line.category)}  {fmt.money(line.unit_price_cents)} \u00d7 {line.quantity}"
            for line in self.lines
        )
        self._show(SALE, SaleView(self.header(), lines, self._totals(), bool(self.quote and card)))

    def _totals(self) -> tuple[str, ...]:
        t, q = self.t, self.quote
        if q is None:
            gross = sum(line.unit_price_cents * line.quantity for line in self.lines)
            return (t("Total") + f" {fmt.money(gross)}", t("Tap the member's card"))
        rows = [t("Retail") + f" {fmt.money(q.gross_cents)}"]
        if q.member_price_saving_cents:
            rows.append(t("Member price") + f" -{fmt.money(q.member_price_saving_cents)}")
        if q.tier_discount_cents:
            rows.append(t("Tier discount") + f" -{fmt.money(q.tier_discount_cents)}")
        for code, off in q.campaign_offs:
            rows.append(t("Campaign") + f" {code} -{fmt.money(off)}")
        rows.append(t("To pay") + f" {fmt.money(q.net_cents)}")
        rows.append(t("Points to earn") + f" {q.points}")
        if q.remainder_cents:
            rows.append(t("Remainder earning nothing") + f" {fmt.money(q.remainder_cents)}")
        if q.excluded_cents:
            rows.append(t("Excluded from points") + f" {fmt.money(q.excluded_cents)}")
        return tuple(rows)

    def pay(self, payment: Payment) -> None:
        card_id = self._card_id()
        if card_id is None or not self._guard() or not self.lines or self.quote is None:
            return
        lines, quote = list(self.lines), self.quote
        self._submit(
            "sale",
            lambda seen: self.runtime.purchase(
                card_id, lines, payment, staff=self._staff_id(), seen=seen
            ),
            extra={"quote": quote, "payment": payment},
        )

    # --- stored value, redemption, renewal, backfill --------------------------------------

    def top_up(self, amount_text: str) -> None:
        self._money_op("topup", amount_text)

    def spend(self, amount_text: str) -> None:
        self._money_op("spend", amount_text)

    def _money_op(self, kind: str, amount_text: str) -> None:
        cents = fmt.parse_money(amount_text)
        card_id = self._card_id()
        if card_id is None or not self._guard():
            return
        if cents is None or cents <= 0:
            self._message(self.t("Please check the entries"))
            return
        call = self.runtime.top_up if kind == "topup" else self.runtime.spend
        self._submit(
            kind,
            lambda seen: call(card_id, cents, staff=self._staff_id(), seen=seen),
            extra={"cents": cents},
        )

    def redeem(self, item: str, units: int = 1) -> None:
        card_id = self._card_id()
        if card_id is None or not self._guard():
            return
        self._submit(
            "redeem",
            lambda seen: self.runtime.redeem(
                card_id, item, units, staff=self._staff_id(), seen=seen
            ),
        )

    def renewal(self) -> RenewalView | None:
        """The renewal screen: valid until now and after, the fee, a choice of payment."""
        card_id, rules = self._card_id(), self.runtime.rules
        if card_id is None or rules is None or not self._guard():
            return None
        t, snap = self.t, self.card.snapshot if self.card else None
        assert snap is not None
        fee = engine.fee_cents(rules, FeeKind.ANNUAL)
        balance = snap.balances.stored_value_cents if snap.balances else 0
        lines = [t("Valid until") + f": {snap.expires_on or '-'}"]
        if snap.expires_on is not None:
            renewed = engine.renewed_expiry(rules, snap.expires_on, clock_today(self.wall))
            lines.append(t("Valid after renewal") + f": {renewed}")
        lines.append(t("Renewal fee") + f": {fmt.money(fee, rules.currency)}")
        lines.append(t("Stored value") + f": {fmt.money(balance, rules.currency)}")
        if balance < fee:
            lines.append(t("Not enough stored value"))
        manager = self.staff is not None and self.staff.role == "manager"
        view = RenewalView(
            self.header(), self.member_text(), tuple(lines), True, balance >= fee, manager
        )
        self._show(RENEWAL, view)
        return view

    def renew_waived(self) -> None:
        """Renew with the annual fee waived: a manager, online (the hub books no fee and
        audits the waiver)."""
        card_id = self._card_id()
        if card_id is None or not self._guard():
            return
        self._staff_request(m.RenewWaived(card_id=card_id), self._renewed_waived)

    def _renewed_waived(self, reply: m.StaffReply) -> None:
        self.shift.counts["renewal"] += 1
        self.shift.counts["fee_waived"] += 1
        t = self.t
        rows = (
            t("Staff") + f": {self._staff_id()}",
            t("Card") + f": {reply.card_id}",
            t("Valid until") + f": {reply.expires_on}",
            t("Fee waived"),
        )
        self._show(RECEIPT, ReceiptView(self.header(), t("Renewal"), rows))
        self._refresh_card()

    # --- vouchers ---------------------------------------------------------------------------

    def use_voucher(self, code_text: str) -> None:
        """Accept a member's voucher (typed, or scanned from its QR code) once. Online
        only: the hub is the one place that knows whether it was used already."""
        if not self._guard():
            return
        code = engine.parse_voucher_code(code_text)
        if code is None:
            self._message(self.t("Not a voucher code"), code_text.strip()[:40])
            return
        self._staff_request(m.UseVoucher(code=code), self._voucher_used, errors=_VOUCHER_ERRORS)

    def _voucher_used(self, reply: m.StaffReply) -> None:
        self.shift.counts["voucher"] += 1
        t, rules = self.t, self.runtime.rules
        item = rules.catalog_item(reply.item) if rules is not None else None
        rows = (
            t("Staff") + f": {self._staff_id()}",
            t("Voucher") + f": {reply.voucher}",
            t(item.name) if item else reply.item,
            t("Quantity: {n}", n=reply.units),
            t("Member") + f": {reply.member_id}",
        )
        self._show(RECEIPT, ReceiptView(self.header(), t("Voucher accepted"), rows))

    # --- reversal (manager) ---------------------------------------------------------------

    def reversal_form(self) -> ReversalView | None:
        """The reversal screen, starting from the last receipt's reference."""
        if not self._guard():
            return None
        assert self.staff is not None
        ref = ""
        if self.last_receipt is not None:
            receipt = self.last_receipt[0]
            ref = f"{receipt.seq}/{str(receipt.tx_id)[:8]}"
        t = self.t
        lines: tuple[str, ...] = (
            t("Reference or transfer id"),
            t("Reason (at least 3 characters)"),
        )
        if self.staff.role != "manager":
            lines = (*lines, t("A manager must do this"))
        view = ReversalView(self.header(), ref, lines, self.staff.role == "manager")
        self._show(REVERSAL, view)
        return view

    def reverse(self, ref: str, reason: str) -> None:
        """Take back the points of a transfer (the hub refuses it for a cashier)."""
        if not self._guard():
            return
        ref, reason = ref.strip(), reason.strip()
        if len(ref) < REASON_LEN_MIN or len(reason) < REASON_LEN_MIN:
            self._message(self.t("Please check the entries"))
            return
        op = m.ReversePoints(ref=ref[:64], reason=reason[:200])
        self._staff_request(op, self._reversed)

    def _reversed(self, reply: m.StaffReply) -> None:
        self.shift.counts["reversal"] += 1
        t = self.t
        rows = (
            t("Staff") + f": {self._staff_id()}",
            t("Points taken back: {points}", points=fmt.points(reply.points)),
            t("Reference: {ref}", ref=reply.tx_id[:8]),
        )
        self._show(RECEIPT, ReceiptView(self.header(), t("Points reversed"), rows))
        self._refresh_card()

    def _refresh_card(self) -> None:
        if self.card is not None and self.card.tap.card_id:
            card_id = self.card.tap.card_id
            self.worker.submit(lambda: self.runtime.snapshot(card_id), self._got_snapshot)

    def renew(self, payment: Payment = Payment.CASH) -> None:
        card_id, rules = self._card_id(), self.runtime.rules
        if card_id is None or not self._guard():
            return
        fee = engine.fee_cents(rules, FeeKind.ANNUAL) if rules is not None else 0
        self._submit(
            "renewal",
            lambda seen: self.runtime.renew(card_id, payment, staff=self._staff_id(), seen=seen),
            extra={"fee": fee, "payment": payment},
        )

    def backfill_form(self) -> None:
        """An empty backfill screen for the card on the reader."""
        if self._card_id() is not None and self._guard():
            self.check_backfill("", "", CATEGORIES[0], "")

    def check_backfill(
        self, receipt_no: str, date_text: str, category: str, amount: str
    ) -> BackfillView | None:
        """The receipt as entered and the points it would credit, or why it cannot."""
        if self._card_id() is None or not self._guard():
            return None
        category = self.category_code(category)
        self.backfill_entry = (receipt_no, date_text, category, amount)
        t, window = self.t, self.runtime.rules.backfill_window_days if self.runtime.rules else 0
        lines = [t("Receipts up to {days} days old earn points", days=window)]
        parsed = self._backfill_parsed(receipt_no, date_text, category, amount)
        can, refused = False, False
        if isinstance(parsed, str):
            refused = bool(receipt_no or date_text or amount)
            lines.append(t(parsed) if refused else t("Enter the receipt"))
        else:
            number, on, lines_ = parsed
            lines.append(t("Receipt {no} of {date}", no=number, date=on.isoformat()))
            lines.append(f"{t(category)}  {fmt.money(lines_total(lines_))}")
            why_not = engine.backfill_error(self.runtime.rules, on, clock_today(self.wall))
            if why_not is not None:
                refused = True
                lines.append(t("Receipt outside the backfill window"))
            else:
                card = self.card
                assert card is not None and card.snapshot is not None
                quote = self.runtime.quote_sale(card.snapshot, lines_, on=on)
                lines.append(t("Points to credit: {points}", points=fmt.points(quote.points)))
                can = True
        view = BackfillView(self.header(), self.member_text(), tuple(lines), can, refused)
        self._show(BACKFILL, view)
        return view

    def _backfill_parsed(
        self, receipt_no: str, date_text: str, category: str, amount: str
    ) -> tuple[str, dt.date, list[SaleLine]] | str:
        number, cents = receipt_no.strip(), fmt.parse_money(amount)
        try:
            on = dt.date.fromisoformat(date_text.strip())
        except ValueError:
            return "Receipt date as YYYY-MM-DD"
        if not number or len(number) > RECEIPT_NO_LEN_MAX or not number.isprintable():
            return "Please check the entries"
        if cents is None or cents <= 0 or category not in CATEGORIES:
            return "Please check the entries"
        return number, on, [SaleLine(category, cents)]

    def submit_backfill(self, receipt_no: str, date_text: str, category: str, amount: str) -> None:
        """Check the entry again and, when it earns points, send it (the hub refuses a
        receipt that already earned points)."""
        category = self.category_code(category)
        view = self.check_backfill(receipt_no, date_text, category, amount)
        if view is None or not view.can_submit:
            return
        parsed = self._backfill_parsed(receipt_no, date_text, category, amount)
        assert not isinstance(parsed, str)
        self.backfill(parsed[0], parsed[1], category, amount)

    def backfill(self, receipt_no: str, receipt_on: dt.date, category: str, amount: str) -> None:
        card_id, cents = self._card_id(), fmt.parse_money(amount)
        if card_id is None or not self._guard():
            return
        if cents is None or cents <= 0 or not receipt_no.strip():
            self._message(self.t("Please check the entries"))
            return
        lines = [SaleLine(category, cents)]
        self._submit(
            "backfill",
            lambda seen: self.runtime.backfill(
                card_id, receipt_no.strip(), receipt_on, lines, staff=self._staff_id(), seen=seen
            ),
        )

    def _staff_id(self) -> str:
        assert self.staff is not None
        return self.staff.staff_id

    def _submit(
        self, kind: str, call: Callable[[Any], Any], extra: dict[str, Any] | None = None
    ) -> None:
        card = self.card
        assert card is not None
        seen = (card.snapshot, card.online)

        def job() -> dict[str, Any]:
            receipt = call(seen)
            result = None
            if receipt.accepted and not receipt.offline and receipt.tx_id is not None:
                result = self.runtime.wait_result(receipt.tx_id, RESULT_WAIT_S)
            return {"receipt": receipt, "result": result}

        self.worker.submit(job, lambda out: self._done(kind, out, extra or {}))

    def _done(self, kind: str, outcome: Any, extra: dict[str, Any]) -> None:
        t = self.t
        if isinstance(outcome, Exception):
            self._message(t("Sorry, this cannot be done here"), str(outcome)[:200])
            return
        receipt, result = outcome["receipt"], outcome["result"]
        refused = not receipt.accepted or (result is not None and not result.accepted)
        if refused:
            reason = Reason(result.reason if receipt.accepted else receipt.reason)
            title = _reason_title(reason)
            self._message(t(title), receipt.message if not receipt.accepted else result.message)
            return
        self._count(kind, receipt, result, extra)
        self.lines = [] if kind == "sale" else self.lines
        view = ReceiptView(
            self.header(), t(kind.capitalize()), self._receipt_lines(receipt, result)
        )
        self.last_receipt = (receipt, result)
        self._show(RECEIPT, view)
        self._refresh_card()

    def _count(self, kind: str, receipt: Any, result: Any, extra: dict[str, Any]) -> None:
        shift = self.shift
        shift.counts[kind] += 1
        quote = extra.get("quote")
        if quote is not None:
            payment = extra["payment"]
            shift.cents[f"sale_{payment.value}"] += quote.net_cents
        elif kind in ("topup", "spend"):
            shift.cents[kind] += int(extra.get("cents", 0))
        elif kind == "renewal":
            shift.cents[f"fee_{extra['payment'].value}"] += int(extra["fee"])
        shift.points += result.points_earned if result is not None else 0

    def _receipt_lines(self, receipt: Any, result: Any) -> tuple[str, ...]:
        t = self.t
        rows = [t("Staff") + f": {self._staff_id()}", t("Card") + f": {self.header().card}"]
        if result is not None:
            if result.net_cents:
                rows.append(t("Paid") + f": {fmt.money(result.net_cents)}")
            if result.discount_cents:
                rows.append(t("Discounts") + f": {fmt.money(result.discount_cents)}")
            rows.append(t("Points earned") + f": {result.points_earned}")
            if result.points_spent:
                rows.append(t("Points used: {points}", points=result.points_spent))
            if result.voucher:
                rows.append(t("Voucher") + f": {result.voucher}")
            if result.balances is not None:
                rows.append(
                    t("Points")
                    + f" {fmt.points(result.balances.points)} · "
                    + t("Stored value")
                    + f" {fmt.money(result.balances.stored_value_cents)}"
                )
        else:
            rows.append(t("Queued offline: sent when the hub is back"))
        rows.append(t("Reference: {ref}", ref=f"{receipt.seq}/{str(receipt.tx_id)[:8]}"))
        return tuple(rows)

    # --- members and cards (the hub, over the staff channel) -------------------------------

    def search(self, text: str) -> None:
        if not self._guard() or not text.strip():
            return
        self._staff_request(m.MemberSearch(text=text.strip()[:64]), self._found)

    def _found(self, reply: m.StaffReply) -> None:
        rows = tuple(
            f"#{r.member_id} {r.name} · {r.phone} · {self.t(r.tier.capitalize())} · "
            + ", ".join(r.cards)
            for r in reply.members
        )
        self._show(MEMBERS, MembersView(self.header(), rows or (self.t("Not found"),)))

    def register(self, name: str, phone: str, waive_fee: bool = False) -> None:
        """A new member, and the blank card on the reader becomes theirs. The joining fee
        is taken in cash, or waived by a manager."""
        blank = self._blank()
        if blank is None or not self._guard():
            return
        uid, key = blank
        op = m.RegisterMember(
            name=name.strip(), phone=phone.strip(), uid=uid, card_key=key, waive_fee=waive_fee
        )
        self._staff_request(op, self._issued, write=True)

    def report_lost(self, card_id: str) -> None:
        if self._guard() and card_id.strip():
            op = m.ReportLost(card_id=card_id.strip())
            self._staff_request(
                op, lambda r: self._message(self.t("Card reported lost"), r.card_id, error=False)
            )

    def replace(
        self, old_card_id: str, payment: Payment = Payment.CASH, waive_fee: bool = False
    ) -> None:
        blank = self._blank()
        if blank is None or not self._guard():
            return
        uid, key = blank
        op = m.ReplaceCard(
            card_id=old_card_id.strip(), uid=uid, card_key=key, payment=payment, waive_fee=waive_fee
        )
        self._staff_request(op, self._issued, write=True)

    def _blank(self) -> tuple[str, str] | None:
        card = self.card
        if card is None or not card.tap.blank or card.tap.raw is None:
            self._message(self.t("Put a blank card on the reader"))
            return None
        raw = card.tap.raw
        return raw.uid.hex(), (raw.card_public_key or b"").hex()

    def _staff_request(
        self,
        op: m.AnyStaffOp,
        done: Callable[[m.StaffReply], None],
        write: bool = False,
        errors: Mapping[str, str] = _STAFF_ERRORS,
    ) -> None:
        staff_id = self._staff_id()

        def job() -> m.StaffReply | str:
            reply = self.link.request(staff_id, op, STAFF_TIMEOUT_S)
            if reply is None:
                return "The hub is not reachable: try again when online"
            if write and not reply.error:
                reader = self.runtime.reader
                reader.write_credential(bytes.fromhex(reply.credential), CARD_WRITE_TIMEOUT_MS)
            return reply

        def finish(reply: Any) -> None:
            if isinstance(reply, str):
                self._message(self.t(reply))
            elif isinstance(reply, Exception):
                self._message(self.t("Writing the card failed"), str(reply)[:200])
            elif reply.error:
                title = errors.get(reply.error) or _STAFF_ERRORS.get(reply.error, "Not found")
                self._message(self.t(title), reply.message)
            else:
                done(reply)

        self.worker.submit(job, finish)

    def _issued(self, reply: m.StaffReply) -> None:
        t = self.t
        self.shift.counts["card_issued"] += 1
        detail = [t("Take the card off the reader and tap it again to check it.")]
        if reply.fee_waived:
            self.shift.counts["fee_waived"] += 1
            detail.append(t("Fee waived"))
        elif reply.fee_cents:
            self.shift.cents["fee_cash"] += reply.fee_cents
            detail.append(t("Fee paid in cash: {amount}", amount=fmt.money(reply.fee_cents)))
        self.card = None
        self._message(t("Card {card} is ready", card=reply.card_id), "\n".join(detail), False)

    # --- shift ---------------------------------------------------------------------------

    def shift_summary(self) -> ReceiptView:
        t, s = self.t, self.shift
        rows = [t("Since {time}", time=fmt.clock(s.started_ms))]
        kinds = ("sale", "topup", "spend", "redeem", "renewal", "backfill", "card_issued")
        for kind in (*kinds, "reversal", "fee_waived", "voucher"):
            if s.counts[kind]:
                label = _SHIFT_LABELS.get(kind, kind.capitalize())
                rows.append(f"{t(label)}: {s.counts[kind]}")
        for key in sorted(s.cents):
            rows.append(f"{t(key)}: {fmt.money(s.cents[key])}")
        rows.append(t("Points earned") + f": {s.points}")
        rows.append(t("Queue: {n}", n=self.queue_depth))
        view = ReceiptView(self.header(), t("End of shift"), tuple(rows))
        if self._guard():
            self._show(SHIFT, view)
        return view


def _reason_title(reason: Reason) -> str:
    from tapcard.ui.kiosk import _REASON_KEYS

    if reason in _TERMINAL_REASONS:
        return _TERMINAL_REASONS[reason]
    return REFUSALS[_REASON_KEYS.get(reason, "other")][0]


def lines_total(lines: Sequence[SaleLine]) -> int:
    return sum(line.unit_price_cents * line.quantity for line in lines)
