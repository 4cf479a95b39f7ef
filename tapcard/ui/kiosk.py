"""The kiosk's presenter: idle, member, confirm, result and refusal screens, without Kivy.

A member taps a card; the card watcher verifies it off the UI thread, the worker asks
the runtime for the snapshot (the hub's, or the cache's when offline) and the presenter
builds the member screen. The member picks a reward, confirms, and the runtime commits
the redemption; online the screen waits (bounded) for the hub's voucher. Every refusal
gets its own screen. Card removal or a timeout goes back to idle and wipes the member's
figures (the result screen, which holds the voucher, stays until its timeout or Done).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from tapcard.cards.credential import CredentialError
from tapcard.clock import Clock
from tapcard.clock import today as clock_today
from tapcard.device.policy import Verdict
from tapcard.device.port import DevicePort, Outcome, Seen, settle
from tapcard.domain import engine
from tapcard.domain.rules import CatalogItem, CatalogKind, RuleSet
from tapcard.readers import ReaderError
from tapcard.ui import fmt
from tapcard.ui.expiry import points_expiry_text
from tapcard.ui.i18n import LANGUAGE_DEFAULT, Translator
from tapcard.ui.kiosk_bay import bay_started
from tapcard.ui.kiosk_qr import LookedUp, card_of_code, is_member_code, look_up_code
from tapcard.ui.refusals import Refusal, refusal_of
from tapcard.ui.refusals import detail as refusal_detail
from tapcard.ui.refusals import title as refusal_title
from tapcard.ui.worker import Post, Tap, Worker
from tapcard.wire import messages as m
from tapcard.wire.codes import Reason

RESULT_WAIT_S: Final = 8.0  # online: how long the screen waits for the hub's voucher
MEMBER_TIMEOUT_S: Final = 30.0  # back to idle without a touch
RESULT_TIMEOUT_S: Final = 45.0
REFUSAL_TIMEOUT_S: Final = 8.0
assert REFUSAL_TIMEOUT_S < MEMBER_TIMEOUT_S < RESULT_TIMEOUT_S

IDLE, BUSY, MEMBER, CONFIRM, RESULT, REFUSAL = (
    "idle",
    "busy",
    "member",
    "confirm",
    "result",
    "refusal",
)
SCREENS: Final = (IDLE, BUSY, MEMBER, CONFIRM, RESULT, REFUSAL)
TIMEOUTS_S: Final = {
    MEMBER: MEMBER_TIMEOUT_S,
    CONFIRM: MEMBER_TIMEOUT_S,
    RESULT: RESULT_TIMEOUT_S,
    REFUSAL: REFUSAL_TIMEOUT_S,
}

TIER_NAMES: Final = ("regular", "silver", "gold", "platinum")


@dataclass(frozen=True, slots=True)
class IdleView:
    branch: str
    online: bool
    badge: str  # "" when online
    prompt: str
    hint: str


@dataclass(frozen=True, slots=True)
class RewardRow:
    code: str
    kind: str
    title: str
    cost: str
    affordable: bool
    stock: str


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    tier: str
    points: str
    growth: str  # towards the next tier, "" at the top
    growth_pct: int  # 0..100 for the progress bar
    stored_value: str
    expiry: str
    reminder: str  # renewal reminder, "" when not near
    as_of: str  # "" when the figures are the hub's, fresh
    rewards: tuple[RewardRow, ...]
    note: str = ""
    points_expiry: str = ""  # "120 points expire on 28 Feb 2029", "" when none will


@dataclass(frozen=True, slots=True)
class ConfirmView:
    title: str
    units: int
    units_text: str
    can_more: bool
    can_less: bool
    cost: str
    after: str


@dataclass(frozen=True, slots=True)
class ResultView:
    title: str
    voucher: str  # "" when offline (the hub issues it when the kiosk reconnects)
    qr_data: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RefusalView:
    key: Refusal
    title: str
    detail: str


@dataclass(slots=True)
class _Session:
    """One member at the kiosk: wiped on removal, timeout or the next tap."""

    card_id: str
    snapshot: m.Snapshot | None = None
    online: bool = False
    item: CatalogItem | None = None
    units: int = 1
    refusal: dict[str, str] = field(default_factory=dict)  # the refusal's {need}, {have}
    note: Refusal | None = None  # shown on the member screen, rewards off
    outcome: Outcome | None = None  # of the redemption, for the result screen
    bay: str = ""  # the wash bay the hub started for it (tapcard/ui/kiosk_bay.py)


# The busy screen's view is its text.
KioskView = IdleView | MemberView | ConfirmView | ResultView | RefusalView | str
ViewListener = Callable[[str, KioskView], None]


class KioskPresenter:
    def __init__(
        self,
        runtime: DevicePort,
        post: Post,
        on_view: ViewListener,
        branch_name: str = "",
        lang: str = LANGUAGE_DEFAULT,
    ) -> None:
        self.runtime = runtime
        self.wall: Clock = runtime.clock
        self.on_view = on_view
        self.branch_name = branch_name or runtime.bundle.branch_id
        self.t = Translator(lang)
        self.worker = Worker("kiosk-worker", post)
        self.screen = IDLE
        self.view: KioskView | None = None
        self.session: _Session | None = None
        self.online = runtime.is_online()
        self._token = 0  # bumps on every new session: late results of old ones are dropped
        self.shown_at: dict[str, float] = {}
        self.render()

    def stop(self) -> None:
        self.worker.stop()

    # --- rendering -----------------------------------------------------------------

    def _show(self, screen: str, view: KioskView) -> None:
        assert screen in SCREENS
        self.screen, self.view = screen, view
        self.shown_at[screen] = time.monotonic()
        self.on_view(screen, view)

    def render(self) -> None:
        """Show the current screen again (after a language switch or a status change)."""
        session = self.session
        if self.screen == IDLE or session is None:
            self._show(IDLE, self._idle_view())
        elif self.screen == MEMBER:
            self._show(MEMBER, self._member_view(session))
        elif self.screen == CONFIRM:
            self._show(CONFIRM, self._confirm_view(session))
        elif self.screen == RESULT:
            self._show(RESULT, self._result_view(session))
        elif self.screen == REFUSAL:
            assert isinstance(self.view, RefusalView)
            self._refuse(self.view.key, **session.refusal)
        else:
            self._show(BUSY, self.t("One moment…"))

    def set_language(self, lang: str) -> None:
        self.t = Translator(lang)
        self.render()

    def toggle_language(self) -> None:
        self.set_language(self.t.other())

    def refresh_status(self) -> None:
        """Called every few seconds by the app: redraws only when online changes."""
        online = self.runtime.is_online()
        if online != self.online:
            self.online = online
            if self.screen == IDLE:
                self.render()

    def _idle_view(self) -> IdleView:
        t = self.t
        return IdleView(
            branch=self.branch_name,
            online=self.online,
            badge="" if self.online else t("Offline: figures may be a little old"),
            prompt=t("Tap your card"),
            hint=t("See your points and redeem rewards"),
        )

    # --- taps ------------------------------------------------------------------------

    def on_tap(self, tap: Tap) -> None:
        self._token += 1
        if tap.error is not None:
            self.session = _Session("")
            key = Refusal.FORGED if isinstance(tap.error, CredentialError) else Refusal.READER
            if isinstance(tap.error, ReaderError) and tap.raw is not None:
                key = Refusal.FORGED  # the card answered wrongly: treat as not verifiable
            self._refuse(key)
            return
        if tap.blank:
            self.session = _Session("")
            self._refuse(Refusal.UNKNOWN)
            return
        self._begin(tap.card_id, lambda: self._look_up(tap.card_id))

    def on_scan(self, text: str) -> None:
        """A line the scanner typed: a member's QR code goes on as a tap (kiosk_qr.py)."""
        if self.screen != BUSY and is_member_code(text):
            self._token += 1
            self._begin(card_of_code(text), lambda: look_up_code(self.runtime, text))

    def _begin(self, card_id: str, look_up: Callable[[], LookedUp]) -> None:
        self.session = _Session(card_id)
        self._show(BUSY, self.t("One moment…"))
        token = self._token
        self.worker.submit(look_up, lambda r: self._looked_up(token, r))

    def _look_up(self, card_id: str) -> tuple[Seen, Verdict]:
        seen = self.runtime.snapshot(card_id)
        return seen, self.runtime.check(card_id, m.TopUp(amount_cents=1), seen)

    def _looked_up(self, token: int, result: LookedUp | Exception) -> None:
        if token != self._token or self.session is None:
            return
        if isinstance(result, Exception | Refusal):  # a code refused: by the hub or offline
            self._refuse(result if isinstance(result, Refusal) else Refusal.OTHER)
            return
        (snapshot, online), verdict = result
        self.online = online
        session = self.session
        session.snapshot, session.online = snapshot, online
        # The probe is a 1-cent top-up: a card at its stored-value cap is fine to look at.
        lookable = (Reason.LIMIT_EXCEEDED, Reason.STORED_VALUE_CAP)
        if not verdict.accepted and verdict.reason not in lookable:
            self._refuse(refusal_of(verdict.reason))
            return
        if verdict.reason is Reason.LIMIT_EXCEEDED:  # offline, cache too old: no rewards
            session.note = Refusal.OFFLINE_LIMIT
        self._show(MEMBER, self._member_view(session))

    def on_removed(self) -> None:
        if self.screen in (MEMBER, CONFIRM, REFUSAL, BUSY):
            self.go_idle()

    def on_timeout(self) -> None:
        if self.screen != IDLE:
            self.go_idle()

    def go_idle(self) -> None:
        self._token += 1
        self.session = None  # wipes the member's figures
        self._show(IDLE, self._idle_view())

    # --- member screen ----------------------------------------------------------------

    def _rules(self) -> RuleSet | None:
        rules: RuleSet | None = self.runtime.rules
        return rules

    def _member_view(self, session: _Session) -> MemberView:
        t, snap = self.t, session.snapshot
        assert snap is not None
        balances = snap.balances or m.Balances(points=0, growth=0, stored_value_cents=0)
        rules = self._rules()
        currency = rules.currency if rules else "CNY"
        growth, growth_pct = self._growth(snap, balances, rules)
        left = fmt.days_left(snap.expires_on, clock_today(self.wall))
        reminder = ""
        if left is not None and left <= fmt.RENEWAL_REMINDER_DAYS:
            reminder = t("Your card expires in {days} days: renew at the counter.", days=left)
        note = session.note
        return MemberView(
            name=snap.member_name_masked,
            tier=t(snap.tier.capitalize()) if snap.tier in TIER_NAMES else snap.tier,
            points=fmt.points(balances.points),
            growth=growth,
            growth_pct=growth_pct,
            stored_value=fmt.money(balances.stored_value_cents, currency),
            expiry=snap.expires_on.isoformat() if snap.expires_on else "",
            reminder=reminder,
            as_of="" if session.online else t("As of {time}", time=fmt.clock(snap.as_of_ms)),
            rewards=self._rewards(rules, balances.points, enabled=note is None),
            note=t(refusal_title(note)) if note is not None else "",
            points_expiry=points_expiry_text(t, snap),
        )

    def _growth(
        self, snap: m.Snapshot, balances: m.Balances, rules: RuleSet | None
    ) -> tuple[str, int]:
        if not snap.next_tier:
            return self.t("Top tier reached"), 100
        nxt = rules.tier(snap.next_tier) if rules else None
        target = nxt.growth_points_min if nxt else balances.growth + snap.growth_to_next
        pct = 100 * balances.growth // target if target else 100
        name = self.t(snap.next_tier.capitalize())
        text = self.t(
            "{points} growth points to {tier}", points=fmt.points(snap.growth_to_next), tier=name
        )
        return text, max(0, min(100, pct))

    def _rewards(self, rules: RuleSet | None, have: int, enabled: bool) -> tuple[RewardRow, ...]:
        if rules is None:
            return ()
        rows = []
        for item in rules.catalog:
            cost = self.t("{points} points", points=fmt.points(item.points))
            if item.kind == CatalogKind.PARKING:
                cost = self.t("{cost} per hour", cost=cost)
            rows.append(
                RewardRow(
                    code=item.code,
                    kind=item.kind.value,
                    title=self.t(item.name),
                    cost=cost,
                    affordable=enabled and have >= item.points,
                    stock=self.t("Limited stock") if item.stock is not None else "",
                )
            )
        return tuple(rows)

    # --- redeeming ----------------------------------------------------------------------

    def choose(self, code: str) -> None:
        session, rules = self.session, self._rules()
        if self.screen != MEMBER or session is None or rules is None:
            return
        item = rules.catalog_item(code)
        if item is None:
            return
        session.item, session.units = item, 1
        self._check_then(CONFIRM)

    def more(self) -> None:
        self._step(+1)

    def less(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        session = self.session
        if self.screen != CONFIRM or session is None or session.item is None:
            return
        units = session.units + delta
        if 1 <= units <= session.item.units_max:
            session.units = units
            self._check_then(CONFIRM)

    def _check_then(self, screen: str) -> None:
        """The runtime's own decision (deny list, balance, offline caps) before showing."""
        session = self.session
        assert session is not None and session.item is not None
        op = m.Redeem(item=session.item.code, units=session.units)
        verdict = self.runtime.check(session.card_id, op, (session.snapshot, session.online))
        if not verdict.accepted:
            self._refuse_verdict(verdict.reason, session)
            return
        self._show(screen, self._confirm_view(session))

    def _refuse_verdict(self, reason: Reason, session: _Session) -> None:
        key = refusal_of(reason)
        values: dict[str, str] = {}
        if key is Refusal.POINTS and session.item is not None and session.snapshot is not None:
            have = session.snapshot.balances.points if session.snapshot.balances else 0
            need = engine.redemption_points(session.item, session.units)
            values = {"need": fmt.points(need), "have": fmt.points(have)}
        session.refusal = values
        self._refuse(key, **values)

    def _refuse(self, key: Refusal, **values: str) -> None:
        title, detail = self.t(refusal_title(key)), self.t(refusal_detail(key), **values)
        self._show(REFUSAL, RefusalView(key, title, detail))

    def _confirm_view(self, session: _Session) -> ConfirmView:
        item, snap = session.item, session.snapshot
        assert item is not None and snap is not None
        cost = engine.redemption_points(item, session.units)
        have = snap.balances.points if snap.balances else 0
        parking = item.kind == CatalogKind.PARKING
        return ConfirmView(
            title=self.t(item.name),
            units=session.units,
            units_text=self.t("{hours} h", hours=session.units) if parking else "",
            can_more=parking and session.units < item.units_max,
            can_less=parking and session.units > 1,
            cost=self.t("{points} points", points=fmt.points(cost)),
            after=self.t("Points left after: {points}", points=fmt.points(have - cost)),
        )

    def back(self) -> None:
        if self.screen in (CONFIRM, REFUSAL) and self.session and self.session.snapshot:
            self._show(MEMBER, self._member_view(self.session))
        else:
            self.go_idle()

    def confirm(self) -> None:
        session = self.session
        if self.screen != CONFIRM or session is None or session.item is None:
            return
        item, units, token = session.item, session.units, self._token
        self._show(BUSY, self.t("One moment…"))
        self.worker.submit(
            lambda: self._redeem(session, item.code, units), lambda r: self._redeemed(token, r)
        )

    def _redeem(self, session: _Session, code: str, units: int) -> Outcome:
        seen = (session.snapshot, session.online)
        receipt = self.runtime.redeem(session.card_id, code, units, seen=seen)
        return settle(self.runtime, receipt, RESULT_WAIT_S)

    def _redeemed(self, token: int, outcome: Outcome | Exception) -> None:
        session = self.session
        if token != self._token or session is None:
            return
        if isinstance(outcome, Exception):
            self._refuse(Refusal.OTHER)
            return
        receipt, result = outcome.receipt, outcome.result
        if not receipt.accepted:
            self._refuse_verdict(receipt.reason, session)
            return
        if result is not None and not result.accepted:
            self._refuse_verdict(Reason(result.reason), session)
            return
        session.outcome = outcome
        self._show(RESULT, self._result_view(session))
        item = session.item
        if result is not None and result.voucher and item and item.kind is CatalogKind.CAR_WASH:
            voucher = result.voucher
            self.worker.submit(
                lambda: bay_started(self.runtime, voucher), lambda b: self._bay(token, b)
            )

    def _bay(self, token: int, bay: str | Exception) -> None:
        session = self.session
        if token == self._token and session is not None and isinstance(bay, str) and bay:
            session.bay = bay
            if self.screen == RESULT:
                self._show(RESULT, self._result_view(session))

    def _result_view(self, session: _Session) -> ResultView:
        t, item, outcome = self.t, session.item, session.outcome
        assert item is not None and outcome is not None
        receipt, result = outcome.receipt, outcome.result
        voucher = result.voucher if result is not None else ""
        lines = [
            t(item.name) + (f" \u00d7 {session.units}" if session.units > 1 else ""),
            t("Points used: {points}", points=fmt.points(receipt.points)),
        ]
        if result is not None and result.balances is not None:
            lines.append(t("Points left: {points}", points=fmt.points(result.balances.points)))
        if session.bay:
            lines.append(t("Bay {bay} is starting", bay=session.bay))
        if not voucher:
            lines.append(t("Saved offline: your voucher is issued when the kiosk reconnects."))
            lines.append(t("Reference: {ref}", ref=str(receipt.tx_id)[:8]))
        return ResultView(
            title=t("Enjoy your reward!"),
            voucher=voucher,
            qr_data=voucher or str(receipt.tx_id),
            lines=tuple(lines),
        )
