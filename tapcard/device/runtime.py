"""The device runtime that kiosk and terminal UIs call, from a worker thread.

`DeviceRuntime(bundle, data_dir, reader)` ties together the local store, the outbox,
the MQTT link and the offline policy. A transaction call (`purchase`, `top_up`,
`spend`, `redeem`, `backfill`, `renew`, `fee`) decides (online with a fresh snapshot
from the hub, else offline from the cache and the policy), commits the signed intent to
the outbox and returns a `LocalReceipt` at once; the hub's result arrives later through
`on_result` or `wait_result`. No call blocks longer than its documented timeout:
`snapshot` at most SNAPSHOT_TIMEOUT_S, `read_card` its `timeout_ms`, `wait_result` its
`timeout_s`; the others only touch the local database. The presenters see it through
`DevicePort` (tapcard/device/port.py), which it implements.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from tapcard import __version__
from tapcard.cards.credential import CLONE_REASONS, CredentialError
from tapcard.clock import Clock, clock_from_env
from tapcard.device import policy
from tapcard.device.bundle import Bundle
from tapcard.device.calls import TransactionCalls
from tapcard.device.catalog import CatalogKeeper, DeviceCatalog
from tapcard.device.docstore import DocStore
from tapcard.device.intents import StaffBadge, badge_for
from tapcard.device.link import (
    ALARM_DEAD_LETTER,
    SNAPSHOT_TIMEOUT_S,
    Link,
    LinkHandlers,
    catch_log_exception,
)
from tapcard.device.member_codes import REFUSED, MemberCodes, Taken
from tapcard.device.outbox import ALARM_OUTBOX_FULL, OUTBOX_LEN_MAX, Outbox, Queued
from tapcard.device.port import DeviceStatus, LocalReceipt, Seen
from tapcard.device.store import DeviceStore, Spent, StoreError
from tapcard.domain import engine
from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import CARD_ID_RE, DeviceKind
from tapcard.domain.rules import RuleSet, unchecked_tag_allowed
from tapcard.errors import ValidationError
from tapcard.readers import CardReader, CardTap, HealthState, authenticate_tap
from tapcard.wire import messages as m
from tapcard.wire.bay_messages import BayStart
from tapcard.wire.codes import Reason

log = logging.getLogger(__name__)

RESULT_WAIT_S_MAX: Final = 120.0
READ_CARD_TIMEOUT_MS_MAX: Final = 10_000
IDENTIFY_TIMEOUT_MS: Final = 1_000  # reading a tap's credential and signature
STATUS_DOC: Final = "status"
RULES_DOC: Final = "rules"
DENYLIST_DOC: Final = "denylist"
BAY_START_DOC: Final = "bay_start"  # a kiosk: the hub's latest start of its paired bay
ALARM_STORE_ERROR: Final = "store_error"
ALARM_NO_RULES: Final = "no_rules"
ALARM_SUSPECTED_CLONE: Final = "suspected_clone"  # latched: HQ should see every one
ALARMS_MAX: Final = 32
assert SNAPSHOT_TIMEOUT_S < RESULT_WAIT_S_MAX

ResultCallback = Callable[[m.TxResult], None]
T = TypeVar("T")


class DeviceRuntime(TransactionCalls):
    def __init__(
        self,
        bundle: Bundle,
        data_dir: Path,
        reader: CardReader | None = None,
        on_result: ResultCallback | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.bundle = bundle
        # The device's one clock: intents, caps, status and the link all read it.
        self.clock = clock_from_env() if clock is None else clock
        self.data_dir = data_dir
        self.reader = reader
        self.on_result = on_result
        self.store = DeviceStore(data_dir)
        self.docs = DocStore(data_dir)
        self.outbox = Outbox(self.store, bundle.device_key, bundle.device_id, self.clock)
        self._rules: m.RulesDoc | None = self.docs.get_typed(RULES_DOC, m.RulesDoc)
        self._products = CatalogKeeper(self.docs, bundle.device_id)
        # The catalog at this device's prices, made again when the catalog or rules change.
        self._catalog_here: tuple[DeviceCatalog, RuleSet | None, DeviceCatalog] | None = None
        deny = self.docs.get_typed(DENYLIST_DOC, m.DenyList)
        self._deny_version = deny.version if deny else 0
        self._denied: frozenset[str] = frozenset(deny.cards) if deny else frozenset()
        self._submit_lock = threading.Lock()
        self._results = threading.Condition()
        self._alarms: set[str] = set()
        self._staff: StaffBadge | None = None  # the terminal's login (set_staff)
        self._tap_uid = ("", "")  # (card id, chip UID hex) of the last verified tap
        self.codes = MemberCodes([bundle.issuer_key], self.docs.get, self.docs.put)
        handlers = LinkHandlers(
            on_results=self._on_results,
            on_rules=self._on_rules,
            on_denylist=self._on_denylist,
            health=self.health,
            versions=lambda: (self.rules_version, self._deny_version),
            on_products=self._products.take,
            products_version=self._products.version,
            on_bay=self._on_bay if bundle.kind == DeviceKind.KIOSK.value else None,
        )
        self.link = Link(bundle, self.store, handlers, self.clock)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()
        self.store.close()
        self.docs.close()

    def __enter__(self) -> DeviceRuntime:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def rules(self) -> RuleSet | None:
        return self._rules.rules if self._rules else None

    @property
    def rules_version(self) -> int:
        return self._rules.version if self._rules else 0

    @property
    def catalog(self) -> DeviceCatalog:
        """The hub's product catalog as this device last received it (empty: none yet),
        at its branch's and its own prices, without what they do not sell."""
        current, rules = self._products.current, self.rules
        held = self._catalog_here
        if held is None or held[0] is not current or held[1] is not rules:
            here = current.for_rules(rules) if rules is not None else current
            held = self._catalog_here = (current, rules, here)
        return held[2]

    @property
    def denylist_version(self) -> int:
        return self._deny_version

    def set_staff(self, badge: StaffBadge | None) -> None:
        """Who rings intents up from now on: a terminal's login, None at its lock."""
        self._staff = badge

    def is_online(self) -> bool:
        """Whether the link to the hub is up now (reads memory only)."""
        return self.link.connected

    def load_doc(self, name: str) -> object:
        """A document this device keeps for a program (JSON builtins), or None."""
        doc: object = self.docs.get(name)
        return doc

    def save_doc(self, name: str, doc: object) -> None:
        self.docs.put(name, doc)

    # --- cards ------------------------------------------------------------------------

    def write_card(self, credential: bytes, timeout_ms: int) -> None:
        """Write a credential the hub signed to the card on the reader, read it back and
        compare (raises ReaderError when they differ)."""
        if self.reader is None:
            raise ValidationError("this device has no card reader")
        self.reader.write_credential(credential, timeout_ms)

    def read_card(self, timeout_ms: int) -> str | None:
        """The verified card id of the card in the field, or None if none came (see
        `identify` for what it raises)."""
        assert 0 <= timeout_ms <= READ_CARD_TIMEOUT_MS_MAX
        if self.reader is None:
            raise ValidationError("this device has no card reader")
        tap = self.reader.wait_for_card(timeout_ms)
        return None if tap is None else self.identify(tap, timeout_ms)

    def identify(self, tap: CardTap, timeout_ms: int = IDENTIFY_TIMEOUT_MS) -> str:
        """The verified card id of a tap: the one check of a card's credential and chip,
        for `read_card` and the apps' reader loop alike. Raises CredentialError (forged,
        copied or cloned card) or ReaderError (card pulled)."""
        try:
            card = authenticate_tap(
                tap, [self.bundle.issuer_key], timeout_ms, self._allows_unchecked
            )
        except CredentialError as exc:
            if exc.reason in CLONE_REASONS:
                self._alarms.add(ALARM_SUSPECTED_CLONE)
            log.warning("refused a card from %s", tap.reader_name)
            raise
        self._tap_uid = (card.card_id, tap.uid.hex())
        self.codes.tapped()
        return card.card_id

    def _allows_unchecked(self, card_id: str) -> bool:
        """Asked only for a tag without originality signature: the card's kind as the
        hub reported it (cached, else asked now) against the rules."""
        seen = self.store.snapshot(card_id) or self.link.query_snapshot(card_id)
        return seen is not None and seen.found and unchecked_tag_allowed(self.rules, seen.kind)

    def snapshot(self, card_id: str) -> Seen:
        """(snapshot, online): the hub's when it answers within SNAPSHOT_TIMEOUT_S, else
        the cached one (None when this device has never seen the card)."""
        _check_card_id(card_id)
        uid = self._tap_uid[1] if self._tap_uid[0] == card_id else ""
        fresh = self.link.query_snapshot(card_id, SNAPSHOT_TIMEOUT_S, uid)
        if fresh is not None:
            if fresh.found:
                self._guard(lambda: self.store.put_snapshot(fresh))
            return fresh, True
        return self.store.snapshot(card_id), False

    def member_code_snapshot(self, card_id: str, qr: str) -> Seen | None:
        """As `snapshot`, for the card a scanned member code names: online the hub takes
        the code once, offline this device does (tapcard/device/member_codes.py). A
        refused code is a snapshot with found=False and a MEMBER_QR_* reason. None: no
        reply in time (the hub may have taken it), or offline a code only the hub checks."""
        _check_card_id(card_id)
        if not self.link.connected:
            now_ms = self.clock.now_ms()
            taken = self._guard(lambda: self.codes.take(card_id, qr, now_ms))
            if taken is Taken.NEEDS_HUB:
                return None
            if taken is not Taken.OK:
                refused = m.Snapshot(card_id=card_id, found=False, reason=REFUSED[taken])
                return refused, False
            return self.store.snapshot(card_id), False
        fresh = self.link.query_snapshot(card_id, SNAPSHOT_TIMEOUT_S, qr=qr)
        if fresh is not None and fresh.found:
            self._guard(lambda: self.store.put_snapshot(fresh))
        return None if fresh is None else (fresh, True)

    def quote_sale(
        self, snapshot: m.Snapshot, lines: Sequence[SaleLine], on: dt.date | None = None
    ) -> SaleQuote:
        rules = self._require_rules()
        errors = engine.validate_lines(lines)
        if errors:
            raise ValidationError("; ".join(errors))
        context = policy.member_context(rules, snapshot, self.bundle.branch_id)
        today = policy.business_day(rules, self.clock.now_ms())  # the rules' time zone
        # A known SKU as the cached catalog prices it for the member's tier (offline too);
        # the hub prices it again by SKU with its own catalog when the intent arrives.
        priced, pricing = self.catalog.priced(context.tier, lines)
        return engine.quote_sale(rules, context, priced, on or today, pricing)

    # --- transactions -------------------------------------------------------------------

    def submit(
        self,
        card_id: str,
        op: m.AnyOp,
        staff: str = "",
        seen: Seen | None = None,
    ) -> LocalReceipt:
        """Decide and, when accepted, commit the signed intent before returning.

        `seen` is the (snapshot, online) the caller got at the tap; without it the
        runtime asks the hub now. Raises OutboxFullError or StoreError; a refusal is a
        receipt with accepted=False."""
        _check_card_id(card_id)
        _check_op(op)
        rules = self.rules
        if rules is None:
            self._alarms.add(ALARM_NO_RULES)
            return LocalReceipt(False, Reason.UNKNOWN_RULES_VERSION, "no rule set yet", True)
        snapshot, online = seen if seen is not None else self.snapshot(card_id)
        with self._submit_lock:
            return self._decide_and_queue(rules, card_id, op, staff, snapshot, online)

    def check(
        self,
        card_id: str,
        op: m.AnyOp,
        seen: Seen | None = None,
    ) -> policy.Verdict:
        """What `submit` would decide now, without queueing anything (a UI's pre-check;
        the capability table is left to `submit`: the kiosk probes a card with a top-up)."""
        _check_card_id(card_id)
        rules = self._require_rules()
        snapshot, online = seen if seen is not None else self.snapshot(card_id)
        return self._verdict(rules, card_id, op, snapshot, online, self.clock.now_ms())

    def _verdict(
        self,
        rules: RuleSet,
        card_id: str,
        op: m.AnyOp,
        snapshot: m.Snapshot | None,
        online: bool,
        now: int,
        device: DeviceKind | None = None,
    ) -> policy.Verdict:
        today = policy.business_day(rules, now)
        return policy.decide(
            rules=rules,
            snapshot=snapshot,
            online=online,
            denied=self._denied,
            op=op,
            card_id=card_id,
            counters=self.store.day_counters(today.isoformat(), card_id),
            now_ms=now,
            today=today,
            device=device,
            branch=self.bundle.branch_id,
            catalog=self.catalog.by_sku,  # what the hub will charge for its SKUs
        )

    def _decide_and_queue(
        self,
        rules: RuleSet,
        card_id: str,
        op: m.AnyOp,
        staff: str,
        snapshot: m.Snapshot | None,
        online: bool,
    ) -> LocalReceipt:
        now = self.clock.now_ms()
        day = policy.business_day(rules, now).isoformat()  # the day the counters count
        kind = DeviceKind(self.bundle.kind)  # what the hub's capability table lets it send
        verdict = self._verdict(rules, card_id, op, snapshot, online, now, kind)
        if not verdict.accepted:
            return LocalReceipt(False, verdict.reason, verdict.message, verdict.offline)
        cost = verdict.cost
        spent = Spent(day, card_id, cost.points, cost.cents) if verdict.offline else None
        len_max = rules.offline.outbox_len_max if verdict.offline else OUTBOX_LEN_MAX
        queued: Queued = self._guard(
            lambda: self.outbox.add(
                card_id,
                op,
                rules.version,
                offline=verdict.offline,
                staff=badge_for(self._staff, staff),
                member_code=self.codes.code_for(card_id) if verdict.offline else "",
                spent=spent,
                len_max=len_max,
            )
        )
        if cost.points or cost.cents:
            self._guard(lambda: self.store.adjust_snapshot(card_id, cost.points, cost.cents))
        self.link.kick()
        return LocalReceipt(
            True,
            Reason.OK,
            verdict.message,
            verdict.offline,
            queued.tx_id,
            queued.seq,
            cost.points,
            cost.cents,
        )

    def wait_result(self, tx_id: uuid.UUID, timeout_s: float) -> m.TxResult | None:
        """The hub's result for a queued intent, or None if it did not come in time."""
        assert 0 <= timeout_s <= RESULT_WAIT_S_MAX
        deadline = time.monotonic() + timeout_s
        with self._results:
            while True:
                text = self.store.result_of(str(tx_id))
                if text is not None:
                    return msgspec.json.decode(text, type=m.TxResult)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._results.wait(min(remaining, 0.5))

    # --- what the link hands over (its worker thread) ------------------------------------

    def _on_results(self, results: list[m.TxResult]) -> None:
        for result in results:
            self._cache_result(result)
            if self.on_result is not None:
                catch_log_exception(self.on_result)(result)
        with self._results:
            self._results.notify_all()

    def _cache_result(self, result: m.TxResult) -> None:
        if not result.accepted or result.balances is None:
            return
        cached = self.store.snapshot(result.card_id)
        if cached is None or result.applied_ms < cached.as_of_ms:
            return
        fresh = msgspec.structs.replace(
            cached,
            balances=result.balances,
            tier=result.tier or cached.tier,
            as_of_ms=result.applied_ms,
        )
        self.store.put_snapshot(fresh)

    def _on_rules(self, doc: m.RulesDoc) -> None:
        self.docs.put(RULES_DOC, msgspec.to_builtins(doc))
        self._rules = doc
        self._alarms.discard(ALARM_NO_RULES)
        log.info("device %s took rule set %d", self.bundle.device_id, doc.version)

    def _on_bay(self, start: BayStart) -> None:
        """Kept for the kiosk's screen, which tells the member which bay starts."""
        self.docs.put(BAY_START_DOC, msgspec.to_builtins(start))
        log.info("hub started bay %s for voucher %s", start.bay, start.voucher)

    def _on_denylist(self, doc: m.DenyList) -> None:
        self.docs.put(DENYLIST_DOC, msgspec.to_builtins(doc))
        self._denied = frozenset(doc.cards)
        self._deny_version = doc.version
        log.info("device %s took deny list %d", self.bundle.device_id, doc.version)

    # --- status -------------------------------------------------------------------------

    def alarms(self) -> list[str]:
        if ALARM_DEAD_LETTER in self.link.alarms and not self.store.dead_letter_count():
            # An operator cleared the list (`tapcard device dead-letters --clear`).
            self.link.alarms.discard(ALARM_DEAD_LETTER)
        alarms = set(self._alarms) | set(self.link.alarms)
        if self.outbox.full_alarm:
            alarms.add(ALARM_OUTBOX_FULL)
        return sorted(alarms)[:ALARMS_MAX]

    def status(self) -> DeviceStatus:
        reader = self.reader.health() if self.reader is not None else None
        oldest = self.store.oldest_pending_ms()
        self.outbox.check_alarm()
        return DeviceStatus(
            device_id=self.bundle.device_id,
            reader=reader.state.value if reader else HealthState.NO_READER.value,
            reader_detail=reader.message if reader else "no reader configured",
            link_connected=self.link.connected,
            outbox_depth=self.store.depth(),
            outbox_oldest_age_s=max(0, (self.clock.now_ms() - oldest) // 1000) if oldest else 0,
            inflight=self.link.inflight(),
            rules_version=self.rules_version,
            denylist_version=self._deny_version,
            last_sync_ms=self.link.last_sync_ms,
            software_version=__version__,
            alarms=self.alarms(),
        )

    def health(self) -> m.Health:
        """The heartbeat body; also saved for `tapcard device status`."""
        status = self.status()
        self.docs.put(STATUS_DOC, {**status.to_dict(), "at_ms": self.clock.now_ms()})
        return m.Health(
            device=status.device_id,
            at_ms=self.clock.now_ms(),
            software_version=status.software_version,
            rules_version=status.rules_version,
            denylist_version=status.denylist_version,
            reader=status.reader,
            reader_detail=status.reader_detail[:500],
            outbox_depth=status.outbox_depth,
            seq_last=self.store.seq(),
            outbox_oldest_age_s=status.outbox_oldest_age_s,
            last_sync_ms=status.last_sync_ms,
            disk_free_bytes=shutil.disk_usage(self.data_dir).free,
            alarms=[a[:64] for a in status.alarms],
        )

    def _require_rules(self) -> RuleSet:
        rules = self.rules
        if rules is None:
            raise ValidationError("no rule set has reached this device yet")
        return rules

    def _guard(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except StoreError:
            self._alarms.add(ALARM_STORE_ERROR)
            raise


def _check_card_id(card_id: str) -> None:
    if not CARD_ID_RE.match(card_id):
        raise ValidationError(f"{card_id!r} is not a card id")


def _check_op(op: m.AnyOp) -> None:
    """Validate the operation against its wire schema before anything is signed."""
    try:
        msgspec.json.decode(msgspec.json.encode(op), type=m.AnyOp)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"invalid request: {exc}") from None
