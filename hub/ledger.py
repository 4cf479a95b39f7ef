"""The authoritative ledger: applies signed intents exactly once, in batches.

One database transaction per batch: lock the members' accounts, look up what was
already answered (idempotency by transaction id), decide each intent with the domain
rules of the version it was made with, then insert transfers, legs and results and
move the balances. The caller acknowledges the MQTT messages only after commit, so a
crash at any moment loses nothing and a redelivery changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from hub import db
from hub.decide import CardInfo, Decision, MemberState, decide
from hub.rulestore import RulesCache
from tapcard.clock import Clock, utc_date
from tapcard.domain.ledger import Leg, validate_legs
from tapcard.domain.model import Asset
from tapcard.wire.codes import Reason
from tapcard.wire.messages import Backfill, Purchase, Redeem, TxIntent, TxResult

log = logging.getLogger(__name__)

BATCH_INTENTS_MAX = 500
IN_CLAUSE_ITEMS_MAX = 900  # SQLite allows 999 bound parameters per statement by default
assert BATCH_INTENTS_MAX <= IN_CLAUSE_ITEMS_MAX

_result_encoder = msgspec.json.Encoder()
_ASSET_TEXT = {asset: asset.value for asset in Asset}
_result_decoder = msgspec.json.Decoder(TxResult)


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
    transfers: list[dict[str, object]] = field(default_factory=list)
    legs: list[dict[str, object]] = field(default_factory=list)
    results: list[dict[str, object]] = field(default_factory=list)
    receipt_rows: list[dict[str, object]] = field(default_factory=list)
    vouchers: list[dict[str, object]] = field(default_factory=list)
    exceptions: list[dict[str, object]] = field(default_factory=list)
    sale_lines: list[dict[str, object]] = field(default_factory=list)
    campaign_rows: list[dict[str, object]] = field(default_factory=list)
    system_deltas: Counter[str] = field(default_factory=Counter)
    daily: dict[tuple[int, str, str], tuple[int, int, int]] = field(default_factory=dict)
    seq_max: dict[str, int] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)


class Ledger:
    def __init__(
        self,
        engine: Engine,
        rules: RulesCache,
        voucher_secret: bytes,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.voucher_secret = voucher_secret
        self.clock = clock
        self.counters: Counter[str] = Counter()  # since start, for /metrics and logs

    def apply_batch(self, batch: Sequence[Incoming]) -> list[TxResult]:
        """Apply each intent exactly once; answer each one (again, for duplicates)."""
        assert len(batch) <= BATCH_INTENTS_MAX
        if not batch:
            return []
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
            answered = _load_answered(conn, [str(incoming.intent.tx_id)])
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
            db.bulk_insert(conn, db.results, [_result_row(incoming, result, self.clock.now_ms())])
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
        rules = self.rules.get(intent.rules_version)
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
            today=utc_date(min(intent.created_ms, now_ms)),
        )
        result = self._record(incoming, decision, member, state, now_ms)
        state.used_seqs[key] = incoming.tx
        return result

    def _record(
        self,
        incoming: Incoming,
        decision: Decision,
        member: MemberState | None,
        state: _Batch,
        now_ms: int,
    ) -> TxResult:
        intent = incoming.intent
        tx = incoming.tx
        if decision.reason is not Reason.OK:
            state.counters[f"rejected.{decision.reason.name.lower()}"] += 1
            log.info("rejected %s from %s: %s", tx, incoming.device_id, decision.message)
            result = rejection(intent, decision.reason, decision.message)
        else:
            assert member is not None
            result = self._book(incoming, decision, member, state, now_ms)
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
    ) -> TxResult:
        intent = incoming.intent
        tx = incoming.tx
        errors = validate_legs(decision.legs) if decision.legs else []
        assert not errors, errors
        member.apply(decision.legs, decision)
        for leg in decision.legs:
            if leg.account.startswith("s:"):
                state.system_deltas[leg.account] += leg.delta
        state.transfers.append(
            {
                "tx_id": tx,
                "kind": decision.kind.value,
                "device_id": incoming.device_id,
                "seq": intent.seq,
                "card_id": intent.card_id,
                "member_id": member.id,
                "branch_id": incoming.branch_id or None,
                "rules_version": intent.rules_version,
                "created_ms": intent.created_ms,
                "applied_ms": now_ms,
                "offline": intent.offline,
                "actor": intent.staff,
                "reason": "",
                "detail": decision.detail_json,
            }
        )
        state.legs += [_leg_row(tx, leg) for leg in decision.legs]
        add_to_daily(state.daily, intent.created_ms, incoming.branch_id, decision.legs)
        _side_effects(tx, incoming.branch_id, intent, decision, member, state, now_ms)
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
            offline_exception=bool(decision.exceptions),
            applied_ms=now_ms,
        )

    # --- reading ------------------------------------------------------------------

    def _load(self, conn: Connection, batch: Sequence[Incoming]) -> _Batch:
        state = _Batch()
        card_ids = sorted({i.intent.card_id for i in batch})
        state.cards = _load_cards(conn, card_ids)
        member_ids = sorted({c.member_id for c in state.cards.values()})
        state.members = load_members(conn, member_ids, lock=True)
        tx_ids = [str(i.intent.tx_id) for i in batch]
        state.answered = _load_answered(conn, tx_ids)
        state.used_seqs = _load_used_seqs(conn, batch)
        items = sorted({i.intent.op.item for i in batch if isinstance(i.intent.op, Redeem)})
        state.stock = _load_stock(conn, items)
        receipt_nos = sorted(
            {
                i.intent.op.receipt_no
                for i in batch
                if isinstance(i.intent.op, Purchase | Backfill) and i.intent.op.receipt_no
            }
        )
        state.receipts = _load_receipts(conn, receipt_nos)
        _load_card_usage(conn, state.cards.values(), self.clock.now_ms())
        return state

    # --- writing ------------------------------------------------------------------

    def _write(self, conn: Connection, state: _Batch) -> None:
        for table, rows in (
            (db.transfers, state.transfers),
            (db.legs, state.legs),
            (db.results, state.results),
            (db.receipts, state.receipt_rows),
            (db.vouchers, state.vouchers),
            (db.exceptions, state.exceptions),
            (db.sale_lines, state.sale_lines),
            (db.transfer_campaigns, state.campaign_rows),
        ):
            db.bulk_insert(conn, table, rows)
        write_members(conn, state.members.values())
        _write_cards(conn, state.cards.values())
        _write_stock(conn, state.stock)
        _write_seq_max(conn, state.seq_max)
        db.add_daily_totals(conn, state.daily)
        if is_sqlite_conn(conn) and state.transfers:
            check_balanced(conn, [str(t["tx_id"]) for t in state.transfers])
        # System accounts last and in a fixed order: concurrent workers hold these
        # hot rows only for the moment before commit and never deadlock on them.
        for code in sorted(state.system_deltas):
            delta = state.system_deltas[code]
            if delta:
                conn.execute(
                    db.accounts.update()
                    .where(db.accounts.c.code == code)
                    .values(balance=db.accounts.c.balance + delta)
                )


def is_sqlite_conn(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def check_balanced(conn: Connection, tx_ids: Sequence[str]) -> None:
    """The database's zero-sum check for SQLite, which cannot defer triggers."""
    for start in range(0, len(tx_ids), IN_CLAUSE_ITEMS_MAX):
        chunk = tx_ids[start : start + IN_CLAUSE_ITEMS_MAX]
        rows = conn.execute(
            sa.select(db.legs.c.tx_id, db.legs.c.asset)
            .where(db.legs.c.tx_id.in_(chunk))
            .group_by(db.legs.c.tx_id, db.legs.c.asset)
            .having(sa.func.sum(db.legs.c.credit) != sa.func.sum(db.legs.c.debit))
        ).all()
        if rows:
            raise IntegrityError("unbalanced transfer", None, Exception(f"unbalanced: {rows}"))


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


def add_to_daily(
    daily: dict[tuple[int, str, str], tuple[int, int, int]],
    created_ms: int,
    branch_id: str | None,
    legs: Sequence[Leg],
) -> None:
    day = created_ms // db.DAY_MS
    for leg in legs:
        key = (day, branch_id or "", leg.account)
        debit, credit, count = daily.get(key, (0, 0, 0))
        daily[key] = (debit + leg.debit, credit + leg.credit, count + 1)


def _result_row(incoming: Incoming, result: TxResult, now_ms: int) -> dict[str, object]:
    return {
        "tx_id": incoming.tx,
        "device_id": incoming.device_id,
        "seq": incoming.intent.seq,
        "digest": incoming.digest,
        "accepted": result.accepted,
        "reason": int(result.reason),
        "body": _result_encoder.encode(result).decode(),
        "applied_ms": now_ms,
    }


def _leg_row(tx: str, leg: Leg) -> dict[str, object]:
    return {
        "tx_id": tx,
        "account": leg.account,
        "asset": _ASSET_TEXT[leg.asset],
        "debit": leg.debit,
        "credit": leg.credit,
    }


def _side_effects(
    tx: str,
    branch_id: str,
    intent: TxIntent,
    decision: Decision,
    member: MemberState,
    state: _Batch,
    now_ms: int,
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
                "created_ms": intent.created_ms,
                "branch_id": branch_id or None,
            }
        )
    for code, off_cents in decision.campaign_offs:
        state.campaign_rows.append(
            {
                "tx_id": tx,
                "code": code,
                "member_id": member.id,
                "net_cents": decision.net_cents,
                "campaign_discount_cents": off_cents,
                "created_ms": intent.created_ms,
            }
        )
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


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CLAUSE_ITEMS_MAX):
        yield items[start : start + IN_CLAUSE_ITEMS_MAX]


def _load_cards(conn: Connection, card_ids: Sequence[str]) -> dict[str, CardInfo]:
    found: dict[str, CardInfo] = {}
    for chunk in _chunks(card_ids):
        for row in conn.execute(sa.select(db.cards).where(db.cards.c.id.in_(chunk))):
            found[row.id] = CardInfo.from_row(row)
    return found


def _load_card_usage(conn: Connection, cards: Iterable[CardInfo], now_ms: int) -> None:
    """Today's spending of the cards that have their own daily limits."""
    day_start_ms = now_ms - now_ms % db.DAY_MS
    for card in cards:
        if card.daily_cents_max is None and card.daily_points_max is None:
            continue
        query = (
            sa.select(db.legs.c.asset, sa.func.coalesce(sa.func.sum(db.legs.c.debit), 0))
            .join(db.transfers, db.transfers.c.tx_id == db.legs.c.tx_id)
            .where(
                db.transfers.c.card_id == card.id,
                db.transfers.c.created_ms >= day_start_ms,
                db.legs.c.account.like("m:%"),
            )
            .group_by(db.legs.c.asset)
        )
        for asset, debit in conn.execute(query):
            if asset == Asset.CENTS.value:
                card.spent_today_cents = int(debit)
            elif asset == Asset.POINTS.value:
                card.spent_today_points = int(debit)


def _write_cards(conn: Connection, cards: Iterable[CardInfo]) -> None:
    for card in cards:
        if card.changed:
            conn.execute(
                db.cards.update()
                .where(db.cards.c.id == card.id)
                .values(state=card.state, expires_on=card.expires_on, state_ms=card.state_ms)
            )


def load_members(conn: Connection, member_ids: Sequence[int], lock: bool) -> dict[int, MemberState]:
    """Members with their account balances; on PostgreSQL their rows are locked."""
    if not member_ids:
        return {}
    query = sa.select(db.members).where(db.members.c.id.in_(member_ids)).order_by(db.members.c.id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    out = {row.id: MemberState.from_row(row) for row in conn.execute(query)}
    accounts = conn.execute(
        sa.select(db.accounts.c.member_id, db.accounts.c.asset, db.accounts.c.balance).where(
            db.accounts.c.member_id.in_(member_ids)
        )
    )
    for member_id, asset, balance in accounts:
        out[member_id].balances[Asset(asset)] = int(balance)
    return out


def write_members(conn: Connection, members: Iterable[MemberState]) -> None:
    changed = [m for m in members if m.changed]
    if not changed:
        return
    db.bulk_update(
        conn,
        db.accounts,
        "code",
        ["balance"],
        [(balance, code) for m in changed for code, balance in m.account_rows()],
    )
    db.bulk_update(
        conn,
        db.members,
        "id",
        ["tier", "period_growth", "last_activity_on"],
        [(m.tier, m.period_growth, m.last_activity_on, m.id) for m in changed],
    )


def _load_answered(conn: Connection, tx_ids: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for chunk in _chunks(sorted(set(tx_ids))):
        query = sa.select(db.results.c.tx_id, db.results.c.digest, db.results.c.body).where(
            db.results.c.tx_id.in_(chunk)
        )
        for tx, digest, body in conn.execute(query):
            found[tx] = (digest, body.encode())
    return found


def _load_used_seqs(conn: Connection, batch: Sequence[Incoming]) -> dict[tuple[str, int], str]:
    by_device: dict[str, list[int]] = {}
    for incoming in batch:
        by_device.setdefault(incoming.device_id, []).append(incoming.intent.seq)
    used: dict[tuple[str, int], str] = {}
    for device, seqs in by_device.items():
        query = sa.select(db.results.c.seq, db.results.c.tx_id).where(
            db.results.c.device_id == device, db.results.c.seq.in_(sorted(set(seqs)))
        )
        for seq, tx in conn.execute(query):
            used[(device, int(seq))] = tx
    return used


def _load_stock(conn: Connection, items: Sequence[str]) -> dict[str, int]:
    if not items:
        return {}
    query = sa.select(db.stock.c.item, db.stock.c.remaining).where(db.stock.c.item.in_(items))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {item: int(remaining) for item, remaining in conn.execute(query)}


def _write_stock(conn: Connection, stock: dict[str, int]) -> None:
    if stock:
        conn.execute(
            db.stock.update()
            .where(db.stock.c.item == sa.bindparam("b_item"))
            .values(remaining=sa.bindparam("b_remaining")),
            [{"b_item": k, "b_remaining": v} for k, v in stock.items()],
        )


def _load_receipts(conn: Connection, receipt_nos: Sequence[str]) -> set[str]:
    if not receipt_nos:
        return set()
    query = sa.select(db.receipts.c.receipt_no).where(db.receipts.c.receipt_no.in_(receipt_nos))
    return {row[0] for row in conn.execute(query)}


def _write_seq_max(conn: Connection, seq_max: dict[str, int]) -> None:
    for device, seq in seq_max.items():
        conn.execute(
            db.devices.update()
            .where(db.devices.c.id == device, db.devices.c.seq_max < seq)
            .values(seq_max=seq)
        )
