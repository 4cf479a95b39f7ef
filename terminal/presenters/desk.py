"""What every terminal presenter shares: the port to the device, the staff channel, the
worker, the language, who is logged in, the member's card on the reader, the shift, and
showing a screen. One `Desk` per terminal; the presenters each hold it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from tapcard.clock import Clock
from tapcard.device.intents import StaffBadge
from tapcard.device.port import DevicePort, LocalReceipt, Seen
from tapcard.domain.engine import SaleLine
from tapcard.ui import fmt, refusals
from tapcard.ui.expiry import points_expiry_text
from tapcard.ui.i18n import LANGUAGE_DEFAULT, Translator
from tapcard.ui.refusals import Refusal
from tapcard.ui.worker import Post, Tap, Worker
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from terminal.presenters.shift import Shift, load_shift
from terminal.presenters.views import (
    Header,
    HomeView,
    LoginView,
    MessageView,
    Screen,
    Staff,
    TerminalView,
)

LOCK_AFTER_S: Final = 120.0  # auto-lock after this long without a touch
# The member panel asks the hub again when shown after this long: a kiosk redemption or
# another till's booking since the tap must not leave old balances on screen.
SNAPSHOT_STALE_S: Final = 10.0
STAFF_TIMEOUT_S: Final = 5.0  # a staff request waits this long for the hub
CARD_WRITE_TIMEOUT_MS: Final = 3000
assert STAFF_TIMEOUT_S < LOCK_AFTER_S

# The hub's staff-reply errors, as the screen says them (English msgids).
STAFF_ERRORS: Final[Mapping[str, str]] = {
    "bad_pin": "Wrong PIN",
    "locked": "Too many wrong PINs: try again later",
    "no_session": "Please log in again",
    "unknown_staff": "Unknown staff member",
    "not_allowed": "A manager must do this",
    "not_found": "Not found",
    "conflict": "Not possible in the card's state",
    "invalid": "Please check the entries",
}
HUB_UNREACHABLE: Final = "The hub is not reachable: try again when online"
CARD_WRITE_AGAIN: Final = "Try again, or use another blank card"
log = logging.getLogger(__name__)

ViewListener = Callable[[str, TerminalView], None]


class StaffLink(Protocol):
    def request(
        self, staff: str, op: sm.AnyStaffOp, timeout_s: float, session: str = ""
    ) -> sm.StaffReply | None: ...


@dataclass(slots=True)
class CardOnReader:
    """The member's card last tapped, and what the device knows of it."""

    tap: Tap
    snapshot: m.Snapshot | None = None
    online: bool = False
    asked_at: float = 0.0  # the desk's clock when the snapshot was last asked for

    @property
    def seen(self) -> Seen:
        return self.snapshot, self.online


class Desk:
    def __init__(
        self,
        port: DevicePort,
        staff_link: StaffLink,
        post: Post,
        on_view: ViewListener,
        lang: str = LANGUAGE_DEFAULT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.wall: Clock = port.clock  # dates and cached logins; `clock` times idleness
        self.link = staff_link
        self.on_view = on_view
        self.t = Translator(lang)
        self.clock = clock
        self.worker = Worker("terminal-worker", post)
        self.staff: Staff | None = None
        self.card: CardOnReader | None = None
        self.sale_lines: list[SaleLine] = []  # the sale being rung up
        self.queue_depth = 0
        self.shift: Shift = load_shift(port)  # the till's, kept across logins and restarts
        self.last_touch = clock()
        self.last_receipt: LocalReceipt | None = None
        self.screen = Screen.LOGIN
        self.view: TerminalView | None = None
        # How each screen that follows state (language, the card) draws itself again.
        self.redraws: dict[Screen, Callable[[], object]] = {}
        # What else forgets what was entered when staff sign out (a refund's draft).
        self.on_sign_out: list[Callable[[], None]] = []

    # --- showing -------------------------------------------------------------------------

    def show(self, screen: Screen, view: TerminalView) -> None:
        assert screen in Screen
        self.screen, self.view = screen, view
        self.on_view(screen, view)

    def redraw(self) -> None:
        again = self.redraws.get(self.screen)
        if again is not None:
            again()

    def show_login(self, message: str = "") -> None:
        self.show(Screen.LOGIN, LoginView(self.t("Staff login"), message))

    def home(self) -> None:
        if self.guard():
            card = self.card
            stale = card is not None and self.clock() - card.asked_at > SNAPSHOT_STALE_S
            if stale and card is not None and card.snapshot is not None:
                self.refresh_card()  # shown as it is now, redrawn when the answer comes
            self.show(Screen.HOME, HomeView(self.header(), self.member_text(), self.manager()))

    def message(self, title: str, detail: str = "", error: bool = True) -> None:
        self.show(Screen.MESSAGE, MessageView(self.header(), title, detail, error))

    def header(self) -> Header:
        t, online = self.t, self.port.is_online()
        staff = f"{self.staff.name} ({t(self.staff.role)})" if self.staff else ""
        card = self.card.tap.card_id if self.card and self.card.tap.card_id else ""
        if self.card and self.card.tap.blank:
            card = t("Blank card")
        state = t("online") if online else t("offline")
        return Header(staff, card, t("Queue: {n}", n=self.queue_depth) + f" · {state}", online)

    def member_text(self) -> str:
        t, card = self.t, self.card
        if card is None:
            return t("Tap the member's card")
        if card.tap.blank:
            return t("Blank card: ready to issue")
        if card.tap.error is not None:
            answered = card.tap.raw is not None
            return t(refusals.title(refusals.tap_refusal(card.tap.error, answered)))
        snap = card.snapshot
        if snap is None or not snap.found:
            if snap is None:
                return t("Looking up the card…")
            return t(refusals.title(Refusal.UNKNOWN))
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
        expiring = points_expiry_text(t, snap)
        if expiring:
            parts.append(expiring)
        if not card.online:
            parts.append(t("As of {time}", time=fmt.clock(snap.as_of_ms)))
        return "\n".join(parts)

    # --- who and what ----------------------------------------------------------------------

    def touch(self) -> None:
        self.last_touch = self.clock()

    def guard(self) -> bool:
        """A touch; False (and the login screen) when nobody is logged in."""
        self.touch()
        if self.staff is None:
            self.show_login()
            return False
        return True

    def sign_in(self, staff: Staff) -> None:
        """Staff requests carry the login's session; the runtime stamps intents with it."""
        self.staff = staff
        self.port.set_staff(StaffBadge(staff.staff_id, staff.session, staff.offline))

    def sign_out(self, message: str) -> None:
        self.staff = None
        self.port.set_staff(None)
        self.card = None
        self.sale_lines.clear()
        for forget in self.on_sign_out:
            forget()
        self.show_login(message)

    def staff_id(self) -> str:
        assert self.staff is not None
        return self.staff.staff_id

    def staff_name(self) -> str:
        """Who served, as a receipt on screen names them (the id is for the audit)."""
        assert self.staff is not None
        return self.staff.name or self.staff.staff_id

    def manager(self) -> bool:
        return self.staff is not None and self.staff.manager

    def card_id(self) -> str | None:
        """The member's card id, or None (and a message) while no member card is read."""
        card = self.card
        if card is None or not card.tap.card_id or card.snapshot is None:
            self.message(self.t("Tap the member's card"))
            return None
        return card.tap.card_id

    def refresh_card(self) -> None:
        if self.card is not None and self.card.tap.card_id:
            card_id = self.card.tap.card_id
            self.card.asked_at = self.clock()
            self.worker.submit(lambda: self.port.snapshot(card_id), self.got_snapshot)

    def got_snapshot(self, result: Seen | Exception) -> None:
        if self.card is None or isinstance(result, Exception):
            return
        self.card.snapshot, self.card.online = result
        self.card.asked_at = self.clock()
        if self.screen in (Screen.HOME, Screen.SALE):
            self.redraw()

    # --- the hub, over the staff channel ------------------------------------------------

    def ask_hub(
        self,
        op: sm.AnyStaffOp,
        done: Callable[[sm.StaffReply], None],
        write: bool = False,
        errors: Mapping[str, str] = STAFF_ERRORS,
        on_refused: Mapping[str, Callable[[sm.StaffReply], None]] | None = None,
        detail: str = "",
    ) -> None:
        """Send `op` as the logged-in staff member; `done(reply)` when the hub says yes,
        else a message (or `on_refused[error](reply)`, for a refusal with its own
        screen). `write`: the reply's credential goes onto the card first. `detail`: the
        line under a refusal's title (what was asked about, such as the voucher code)."""
        assert self.staff is not None
        staff_id, session = self.staff.staff_id, self.staff.session

        def job() -> sm.StaffReply | str:
            reply = self.link.request(staff_id, op, STAFF_TIMEOUT_S, session)
            if reply is None:
                return HUB_UNREACHABLE
            if write and not reply.error:
                self.port.write_card(bytes.fromhex(reply.credential), CARD_WRITE_TIMEOUT_MS)
            return reply

        def finish(reply: sm.StaffReply | str | Exception) -> None:
            if isinstance(reply, str):
                self.message(self.t(reply))
            elif isinstance(reply, Exception):
                log.warning("writing the card failed: %s", reply)
                self.message(self.t("Writing the card failed"), self.t(CARD_WRITE_AGAIN))
            elif reply.error == "no_session":  # ended at the hub, or an offline login
                self.sign_out(self.t(STAFF_ERRORS["no_session"]))
            elif on_refused and reply.error in on_refused:
                on_refused[reply.error](reply)
            elif reply.error:
                # The hub's own words are English for the log; the screen says the title.
                log.info("hub refused %s: %s %s", type(op).__name__, reply.error, reply.message)
                title = errors.get(reply.error) or STAFF_ERRORS.get(reply.error, "Not found")
                self.message(self.t(title), detail)
            else:
                done(reply)

        self.worker.submit(job, finish)
