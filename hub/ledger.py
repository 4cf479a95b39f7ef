"""The authoritative ledger: applies signed intents exactly once, in batches.

One database transaction per batch: lock the members' accounts, look up what was
already answered (idempotency by transaction id), decide each intent with the domain
rules of the version it was made with, then post the transfers through the journal
(hub.posting, which moves the balances), store the results and the side rows. The
caller acknowledges the MQTT messages only after commit, so a crash at any moment
loses nothing and a redelivery changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from nacl.signing import VerifyKey
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from hub import db
from hub import ledger_store as store
from hub.authority import staff_refusal
from hub.campaign_book import CampaignBook
from hub.decide import CardInfo, Decision, decide, refuse
from hub.ledger_time import hub_time, sender_of
from hub.member_qr_offline import OfflineCodes
from hub.member_state import MemberState, load_members
from hub.posting import IN_CLAUSE_ITEMS_MAX, Journal, Transfer, insert_rows
from hub.products import Catalog, batch_catalogs
from hub.refunds import RefundBook, sale_refunded_at
from hub.registry import CONTACT_GAP_MS, note_contact
from hub.rulestore import RulesCache
from hub.staff_sessions import StaffCheck, intent_staff
from hub.voucher_schema import terms_columns
from tapcard.clock import Clock
from tapcard.domain.model import Asset, TxKind
from tapcard.domain.rules import SEQ_AHEAD_MAX
from tapcard.wire.codes import Reason
from tapcard.wire.messages import Backfill, Purchase, Redeem, Refund, TxIntent, TxResult

log = logging.getLogger(__name__)

BATCH_INTENTS_MAX = 500
USAGE_DAY_S_MAX = 26 * 3600  # a business day is at most 25 h long (a DST change), and then some
assert BATCH_INTENTS_MAX <= IN_CLAUSE_ITEMS_MAX

_result_encoder = msgspec.json.Encoder()
_result_decoder = msgspec.json.Decoder(TxResult)
_RESULT_COLS = ("tx_id", "device_id", "seq", "digest", "accepted", "reason", "body", "applied_ms")
_ResultRow = tuple[str, str, int, str, bool, int, str, int]  # _RESULT_COLS


@dataclass(frozen=True, slots=True)
class Incoming:
    """An intent whose envelope and signature have been checked."""

    device_id: str
    intent: TxIntent
    digest: str  # sha256 hex of the signed body bytes
    branch_id: str = ""
    tx: str = field(default="", compare=False)  # str(intent.tx_id), made once

    def __post_init__(self) -> None:
        if not self.tx:
            object.__setattr__(self, "tx", str(self.intent.tx_id))
        else:
            assert self.tx == str(self.intent.tx_id)


def body_digest(body_bytes: bytes) -> str:
    return hashlib.sha256(body_bytes).hexdigest()


@dataclass(slots=True)
class _Batch:
    """Everything one batch reads before deciding and writes after."""

    members: dict[int, MemberState] = field(default_factory=dict)
    cards: dict[str, CardInfo] = field(default_factory=dict)
    answered: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # tx -> digest, body
    used_seqs: dict[tuple[str, int], str] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)
    receipts: set[str] = field(default_factory=set)
    journal: Journal = field(default_factory=Journal)
    results: list[_ResultRow] = field(default_factory=list)
    receipt_rows: list[dict[str, object]] = field(default_factory=list)
    vouchers: list[dict[str, object]] = field(default_factory=list)
    exceptions: list[dict[str, object]] = field(default_factory=list)
    sale_lines: list[dict[str, object]] = field(default_factory=list)
    campaign_rows: list[dict[str, object]] = field(default_factory=list)
    campaigns: CampaignBook = field(default_factory=CampaignBook)  # targeting and budgets
    seq_max: dict[str, int] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    devices: dict[str, store.DeviceInfo] = field(default_factory=dict)
    usage: store.DayUsage = field(default_factory=store.DayUsage)
    staff: dict[str, StaffCheck] = field(default_factory=dict)  # tx -> whom to book it under
    refunds: RefundBook | None = None  # the sales the batch's refunds name
    catalogs: dict[str, Catalog] = field(default_factory=dict)  # tx -> its sale's products
    codes: OfflineCodes = field(default_factory=OfflineCodes)  # member codes taken offline
    contact: tuple[list[str], int] = ([], 0)  # the devices heard from, and when


class Ledger:
    def __init__(
        self,
        engine: Engine,
        rules: RulesCache,
        voucher_secret: bytes,
        clock: Clock,
        issuer_key: VerifyKey,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.voucher_secret = voucher_secret
        self.issuer_key = issuer_key  # checks the member codes devices took offline
        self.clock = clock
        self.counters: Counter[str] = Counter()  # since start, for /metrics and logs

    def apply_batch(self, batch: Sequence[Incoming]) -> list[TxResult]:
        """Apply each intent exactly once; answer each one (again, for duplicates)."""
        assert len(batch) <= BATCH_INTENTS_MAX
        if not batch:
            return []
        split = sale_refunded_at([(i.tx, i.intent) for i in batch])
        if split:  # the sale commits first, so that its refund finds it
            return self.apply_batch(batch[:split]) + self.apply_batch(batch[split:])
        try:
            with self.engine.begin() as conn:
                results, counts = self._apply(conn, batch)
        except (IntegrityError, DataError) as exc:
            # Another worker applied one of these meanwhile, a sequence number was reused,
            # or one intent carries a value the database refuses: retry one by one so
            # that each intent gets its own answer and one bad intent stalls nothing.
            if len(batch) > 1:
                return [r for one in batch for r in self.apply_batch([one])]
            if isinstance(exc, DataError):
                return [self._refuse_data(batch[0], exc)]
            return [self._after_conflict(batch[0], exc)]
        self.counters.update(counts)
        return results

    def _after_conflict(self, incoming: Incoming, exc: IntegrityError) -> TxResult:
        with self.engine.begin() as conn:
            answered = store.load_answered(conn, [str(incoming.intent.tx_id)])
        previous = answered.get(str(incoming.intent.tx_id))
        if previous is not None:
            return _replay(incoming, previous, self.counters)
        log.warning("intent %s conflicts: %s", incoming.intent.tx_id, exc.orig)
        self.counters["rejected.seq_reused"] += 1
        return rejection(incoming.intent, Reason.SEQ_REUSED, "sequence number already used")

    def _refuse_data(self, incoming: Incoming, exc: DataError) -> TxResult:
        log.warning("intent %s refused by the database: %s", incoming.intent.tx_id, exc.orig)
        self.counters["rejected.invalid_request"] += 1
        result = rejection(incoming.intent, Reason.INVALID_REQUEST, "a value is out of range")
        with self.engine.begin() as conn:
            row = _result_row(incoming, result, self.clock.now_ms())
            insert_rows(conn, db.results, _RESULT_COLS, [row])
        return result

    def _apply(
        self, conn: Connection, batch: Sequence[Incoming]
    ) -> tuple[list[TxResult], Counter[str]]:
        state = self._load(conn, batch)
        now_ms = self.clock.now_ms()
        out: list[TxResult] = []
        seen_in_batch: dict[str, Incoming] = {}
        for incoming in batch:
            tx = incoming.tx
            if tx in state.answered:
                out.append(_replay(incoming, state.answered[tx], state.counters))
                continue
            first = seen_in_batch.get(tx)
            if first is not None:  # the same intent twice in one batch
                out.append(self._same_batch_duplicate(incoming, first, out, batch, state))
                continue
            seen_in_batch[tx] = incoming
            out.append(self._one(incoming, state, now_ms))
        self._write(conn, state)
        return out, state.counters

    def _same_batch_duplicate(
        self,
        incoming: Incoming,
        first: Incoming,
        out: list[TxResult],
        batch: Sequence[Incoming],
        state: _Batch,
    ) -> TxResult:
        if incoming.digest != first.digest:
            state.counters["rejected.tx_id_reused"] += 1
            return rejection(incoming.intent, Reason.TX_ID_REUSED, "transaction id reused")
        state.counters["duplicate"] += 1
        return out[list(batch).index(first)]

    def _one(self, incoming: Incoming, state: _Batch, now_ms: int) -> TxResult:
        intent = incoming.intent
        key = (incoming.device_id, intent.seq)
        if key in state.used_seqs:
            state.counters["rejected.seq_reused"] += 1
            log.warning("device %s reused sequence %d", incoming.device_id, intent.seq)
            return rejection(intent, Reason.SEQ_REUSED, f"sequence {intent.seq} already used")
        device = state.devices.get(incoming.device_id)
        seq_next = max(device.seq_max if device else 0, state.seq_max.get(key[0], 0)) + 1
        if intent.seq > seq_next + SEQ_AHEAD_MAX:
            # Not stored: the sequence number stays free and seq_max does not jump.
            state.counters["rejected.seq_ahead"] += 1
            log.warning("device %s sent sequence %d, expected %d", key[0], intent.seq, seq_next)
            message = f"sequence {intent.seq} is too far ahead of {seq_next}"
            return rejection(intent, Reason.SEQ_AHEAD, message)
        rules = self.rules.for_device(intent.rules_version, incoming.branch_id, key[0])
        when, today = hub_time(intent, rules, device, now_ms)
        card = state.cards.get(intent.card_id)
        member = state.members.get(card.member_id) if card is not None else None
        decision = decide(
            now_ms=now_ms,
            intent=intent,
            rules=rules,
            card=card,
            member=member,
            stock=state.stock,
            receipts=state.receipts,
            voucher_secret=self.voucher_secret,
            today=today,
            sender=sender_of(incoming, device, today, rules, state.usage),
            refunds=state.refunds,
            catalog=state.catalogs.get(incoming.tx),
            campaigns=state.campaigns,
        )
        refused = staff_refusal(decision, intent.offline, state.staff.get(incoming.tx))
        if refused is not None:
            decision = refuse(*refused, today)
        if when.moved and decision.reason is Reason.OK:
            detail = f"device dated it {intent.created_ms} ms, the hub booked it at {when.at_ms}"
            decision.exceptions.append(("offline_date", Asset.CENTS, 0, detail))
        decision.exceptions += state.codes.check(intent, now_ms)
        result = self._record(incoming, decision, member, state, now_ms, when.at_ms)
        state.used_seqs[key] = incoming.tx
        return result

    def _record(
        self,
        incoming: Incoming,
        decision: Decision,
        member: MemberState | None,
        state: _Batch,
        now_ms: int,
        at_ms: int,
    ) -> TxResult:
        intent = incoming.intent
        tx = incoming.tx
        if decision.reason is not Reason.OK:
            state.counters[f"rejected.{decision.reason.name.lower()}"] += 1
            log.info("rejected %s from %s: %s", tx, incoming.device_id, decision.message)
            result = rejection(intent, decision.reason, decision.message)
        else:
            assert member is not None
            result = self._book(incoming, decision, member, state, now_ms, at_ms)
        state.results.append(_result_row(incoming, result, now_ms))
        state.seq_max[incoming.device_id] = max(
            state.seq_max.get(incoming.device_id, 0), intent.seq
        )
        return result

    def _book(
        self,
        incoming: Incoming,
        decision: Decision,
        member: MemberState,
        state: _Batch,
        now_ms: int,
        at_ms: int,
    ) -> TxResult:
        intent = incoming.intent
        tx = incoming.tx
        transfer = Transfer(
            tx_id=tx,
            kind=decision.kind,
            member_id=member.id,
            rules_version=intent.rules_version,
            created_ms=at_ms,  # the hub's time (tapcard.domain.authority.hub_time_ms)
            applied_ms=now_ms,
            card_id=intent.card_id,
            device_id=incoming.device_id,
            seq=intent.seq,
            branch_id=incoming.branch_id or None,
            offline=intent.offline,
            actor=state.staff[tx].staff_id if tx in state.staff else "",  # verified
            detail=decision.detail_json,
            rules_effective=self.rules.stamp_for(incoming),
        )
        state.journal.post(transfer, decision.legs, member)
        member.note_activity(decision.legs, decision.new_tier, decision.today)
        if decision.kind is TxKind.RENEWAL and member.join_lapsed:  # it took the joining fee
            member.join_lapsed, member.join_paid = False, True
        _side_effects(tx, incoming.branch_id, intent, decision, member, state, now_ms, at_ms)
        state.counters[f"accepted.{decision.kind.value}"] += 1
        return TxResult(
            tx_id=intent.tx_id,
            device=intent.device,
            seq=intent.seq,
            accepted=True,
            reason=Reason.OK,
            message=decision.message,
            rules_version=intent.rules_version,
            card_id=intent.card_id,
            balances=member.balances_view(),
            tier=member.tier,
            net_cents=decision.net_cents,
            discount_cents=decision.discount_cents,
            points_earned=decision.points_earned,
            points_spent=decision.points_spent,
            voucher=decision.voucher,
            offline_exception=any(e[0] != "catalog_price" for e in decision.exceptions),
            price_changed=any(e[0] == "catalog_price" for e in decision.exceptions),
            applied_ms=now_ms,
        )

    # --- reading ------------------------------------------------------------------

    def _load(self, conn: Connection, batch: Sequence[Incoming]) -> _Batch:
        state = _Batch()
        card_ids = sorted({i.intent.card_id for i in batch})
        state.cards = store.load_cards(conn, card_ids)
        member_ids = sorted({c.member_id for c in state.cards.values()})
        state.members = load_members(conn, member_ids, lock=True)
        tx_ids = [str(i.intent.tx_id) for i in batch]
        state.answered = store.load_answered(conn, tx_ids)
        state.used_seqs = store.load_used_seqs(conn, [(i.device_id, i.intent.seq) for i in batch])
        items = sorted({i.intent.op.item for i in batch if isinstance(i.intent.op, Redeem)})
        state.stock = store.load_stock(conn, items)
        receipt_nos = sorted(
            {
                i.intent.op.receipt_no
                for i in batch
                if isinstance(i.intent.op, Purchase | Backfill) and i.intent.op.receipt_no
            }
        )
        state.receipts = store.load_receipts(conn, receipt_nos)
        devices, now_ms = [i.device_id for i in batch], self.clock.now_ms()
        state.devices = store.load_devices(conn, devices, now_ms, CONTACT_GAP_MS)
        state.contact = (devices, now_ms)  # written last (store.load_devices)
        refs = [i.intent.op.ref for i in batch if isinstance(i.intent.op, Refund)]
        state.refunds = RefundBook.load(conn, refs, self.rules.get) if refs else None
        state.usage = self._load_usage(conn, batch, state)
        state.staff = {i.tx: intent_staff(conn, i.device_id, i.intent, now_ms) for i in batch}
        state.catalogs = batch_catalogs(conn, [(i.tx, i.intent) for i in batch], state.staff)
        state.campaigns = CampaignBook.load(conn, batch, self.rules.for_device, member_ids)
        state.codes = OfflineCodes.load(conn, [i.intent for i in batch], self.issuer_key)
        return state

    def _load_usage(
        self, conn: Connection, batch: Sequence[Incoming], state: _Batch
    ) -> store.DayUsage:
        """Spending on the business days the batch's intents count on, for the cards with
        their own daily limits and for whatever is offline."""
        limited = [
            c.id
            for c in state.cards.values()
            if c.daily_cents_max is not None or c.daily_points_max is not None
        ]
        offline = [i for i in batch if i.intent.offline]
        if not limited and not offline:
            return store.DayUsage()
        now_ms = self.clock.now_ms()
        ages_s = [
            r.offline.cache_age_s_max
            for i in offline
            if (r := self.rules.get(i.intent.rules_version))
        ]
        # From the start of the earliest business day an intent may count on.
        since_ms = now_ms - (max(ages_s, default=0) + USAGE_DAY_S_MAX) * 1000
        offline_cards = [i.intent.card_id for i in offline]
        devices = [i.device_id for i in offline]
        return store.load_usage(conn, limited, offline_cards, devices, since_ms)

    # --- writing ------------------------------------------------------------------

    def _write(self, conn: Connection, state: _Batch) -> None:
        state.journal.insert(conn)
        insert_rows(conn, db.results, _RESULT_COLS, state.results)
        for table, rows in (
            (db.receipts, state.receipt_rows),
            (db.vouchers, state.vouchers),
            (db.exceptions, state.exceptions),
            (db.sale_lines, state.sale_lines),
            (db.transfer_campaigns, state.campaign_rows),
        ):
            db.bulk_insert(conn, table, rows)
        store.write_cards(conn, state.cards.values())
        store.write_stock(conn, state.stock)
        state.campaigns.write(conn)
        state.codes.write(conn)
        if state.refunds is not None:  # after the stock: a reward given back adds to it
            state.refunds.write(conn, state.journal.transfers, self.clock.now_ms())
        state.journal.settle(conn, state.members.values())
        note_contact(conn, *state.contact)  # last: the devices' rows, which every batch updates
        store.write_seq_max(conn, state.seq_max)


def rejection(intent: TxIntent, reason: Reason, message: str) -> TxResult:
    return TxResult(
        tx_id=intent.tx_id,
        device=intent.device,
        seq=intent.seq,
        accepted=False,
        reason=reason,
        message=message[:500],
        rules_version=intent.rules_version,
        card_id=intent.card_id,
    )


def _replay(incoming: Incoming, previous: tuple[str, bytes], counters: Counter[str]) -> TxResult:
    digest, body = previous
    if digest != incoming.digest:
        counters["rejected.tx_id_reused"] += 1
        log.warning("transaction id %s reused with other content", incoming.intent.tx_id)
        return rejection(incoming.intent, Reason.TX_ID_REUSED, "transaction id reused")
    counters["duplicate"] += 1
    return _result_decoder.decode(body)


def _result_row(incoming: Incoming, result: TxResult, now_ms: int) -> _ResultRow:
    body = _result_encoder.encode(result).decode()
    i, accepted, reason = incoming, result.accepted, int(result.reason)
    return (i.tx, i.device_id, i.intent.seq, i.digest, accepted, reason, body, now_ms)


def _side_effects(
    tx: str,
    branch_id: str,
    intent: TxIntent,
    decision: Decision,
    member: MemberState,
    state: _Batch,
    now_ms: int,
    at_ms: int,
) -> None:
    if decision.receipt_no:
        state.receipts.add(decision.receipt_no)
        state.receipt_rows.append({"receipt_no": decision.receipt_no, "tx_id": tx})
    if decision.voucher:
        state.vouchers.append(
            {
                "code": decision.voucher,
                "tx_id": tx,
                "item": decision.item,
                "units": decision.units,
                "member_id": member.id,
                "issued_ms": now_ms,
                **terms_columns(decision.voucher_item, now_ms),
            }
        )
    for number, line in enumerate(decision.lines):
        state.sale_lines.append(
            {
                "tx_id": tx,
                "line_no": number,
                "category": line.category,
                "sku": line.sku,
                "quantity": line.quantity,
                "gross_cents": line.unit_price_cents * line.quantity,
                "created_ms": at_ms,
                "branch_id": branch_id or None,
            }
        )
    costs, net = decision.campaign_costs, decision.net_cents  # counted in their budgets
    state.campaign_rows += state.campaigns.booked(tx, member.id, costs, net, at_ms)
    for kind, asset, amount, detail in decision.exceptions:
        state.exceptions.append(
            {
                "kind": kind,
                "tx_id": tx,
                "device_id": intent.device,
                "card_id": intent.card_id,
                "member_id": member.id,
                "asset": asset.value,
                "amount": amount,
                "detail": detail,
                "created_ms": now_ms,
            }
        )
        log.warning("offline exception %s on %s: %s", kind, intent.card_id, detail)
