"""Deciding on the device whether to accept a transaction, online or offline.

Online the device has just asked the hub for the card's snapshot and decides with it
(the hub decides again, authoritatively). Offline it decides by the last rule set's
`OfflinePolicy`: the card is not on the deny list, its cached snapshot is younger than
`cache_age_s_max`, the cached balance covers the amount, and the day's offline
redemption and spend stay within the per-card and per-device caps. Whatever an offline
decision gets wrong (the same points spent at two offline kiosks) the hub books as a
recorded exception; these caps are what bound it.

Pure functions: no I/O, no clock (the caller passes `now_ms` and `today`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from tapcard.device.store import DayCounters
from tapcard.domain import engine, products
from tapcard.domain.authority import (
    DenialKind,
    business_date,
    offline_limit_error,
    topup_refusal,
)
from tapcard.domain.engine import MemberContext
from tapcard.domain.model import DeviceKind, FeeKind, Payment, card_allows, effective_card_state
from tapcard.domain.products import Product
from tapcard.domain.rules import RuleSet
from tapcard.domain.tenders import stored_value_cents
from tapcard.wire import messages as m
from tapcard.wire.codes import CARD_STATE_REASON, Reason
from tapcard.wire.operations import op_denial

# A snapshot does not carry the join date; this one never qualifies for a new-member
# discount, so a device quote is never lower than the hub's (caps stay conservative).
JOINED_ON_UNKNOWN = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Cost:
    """What an operation takes off the member's accounts."""

    points: int = 0
    cents: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    reason: Reason
    message: str
    offline: bool
    cost: Cost


BIRTHDAY_YEAR = 2000  # a leap year, so that 29 February birthdays stay valid


def business_day(rules: RuleSet, now_ms: int) -> dt.date:
    """The day the hub counts caps, campaigns and limits on: in the rules' time zone."""
    return business_date(now_ms, rules.time_zone)


def member_context(rules: RuleSet, snapshot: m.Snapshot, branch: str = "") -> MemberContext:
    tier = snapshot.tier if snapshot.tier in {t.name for t in rules.tiers} else rules.tiers[0].name
    birthday = None
    if snapshot.birthday_md:
        month, day = (int(part) for part in snapshot.birthday_md.split("-"))
        birthday = dt.date(BIRTHDAY_YEAR, month, day)
    return MemberContext(
        tier=tier,
        joined_on=snapshot.joined_on or JOINED_ON_UNKNOWN,
        birthday=birthday,
        program=snapshot.program,  # a category card earns on its program only, as at the hub
        branch=branch,
        # Targeted campaigns as the hub published them with the snapshot; the hub books
        # its own decision and records a difference (hub/campaign_book.py).
        segments=frozenset(snapshot.segments),
        held_out=frozenset(snapshot.held_out),
    )


def op_cost(
    rules: RuleSet,
    snapshot: m.Snapshot,
    op: m.AnyOp,
    today: dt.date,
    catalog: Mapping[str, Product] | None = None,
) -> Cost | Verdict:
    """The points and stored value the operation spends, or a refusal. `catalog`: the
    hub's products as this device holds them; a sale's known SKUs cost what the hub will
    charge for them (tapcard.domain.products), not the price the lines carry."""
    if isinstance(op, m.Spend):
        return Cost(cents=op.amount_cents)
    if isinstance(op, m.Purchase | m.Fee | m.Renewal) and op.tenders:
        # A split: its stored-value parts (the hub checks that the parts sum to the due).
        return Cost(cents=stored_value_cents(m.parts_of(op)))
    if isinstance(op, m.Purchase):
        if op.payment is not Payment.STORED_VALUE:
            return Cost()
        if engine.validate_lines(op.lines):
            return _refuse(Reason.INVALID_REQUEST, "; ".join(engine.validate_lines(op.lines)))
        context = member_context(rules, snapshot)
        if not catalog:
            return Cost(cents=engine.quote_sale(rules, context, op.lines, today).net_cents)
        priced = products.reprice(catalog, context.tier, op.lines)
        quote = engine.quote_sale(rules, context, priced.lines, today, priced.pricing)
        return Cost(cents=quote.net_cents)
    if isinstance(op, m.Redeem):
        item = rules.catalog_item(op.item)
        if item is None:
            return _refuse(Reason.UNKNOWN_ITEM, f"{op.item} is not in the catalog")
        if op.units > item.units_max:
            return _refuse(Reason.INVALID_REQUEST, f"at most {item.units_max} of {item.code}")
        return Cost(points=engine.redemption_points(item, op.units))
    if isinstance(op, m.Fee | m.Renewal):
        kind = op.fee if isinstance(op, m.Fee) else FeeKind.ANNUAL
        paid = op.payment is Payment.STORED_VALUE
        return Cost(cents=engine.fee_cents(rules, kind) if paid else 0)
    # A refund takes nothing from the card (the device refuses stored-value refunds
    # offline before it gets here: tapcard/device/runtime.py).
    assert isinstance(op, m.TopUp | m.Backfill | m.Refund)
    return Cost()


def decide(
    *,
    rules: RuleSet,
    snapshot: m.Snapshot | None,
    online: bool,
    denied: Collection[str],
    op: m.AnyOp,
    card_id: str,
    counters: DayCounters,
    now_ms: int,
    today: dt.date,
    device: DeviceKind | None = None,
    branch: str = "",
    catalog: Mapping[str, Product] | None = None,
) -> Verdict:
    """Accept or refuse one operation on one card (by this kind of device at `branch`:
    what the capability table forbids it, the hub would refuse); `catalog` prices a
    sale's known SKUs as the hub will (op_cost)."""
    offline = not online
    refused = _capability(rules, device, branch, op, offline)
    if refused is not None:
        return refused
    if card_id in denied:
        return _refuse(Reason.CARD_LOST, f"card {card_id} is on the deny list", offline)
    if snapshot is None or not snapshot.found:
        why = "no cached snapshot" if snapshot is None else "the hub does not know it"
        return _refuse(Reason.UNKNOWN_CARD, f"card {card_id}: {why}", offline)
    refused = _card_state(snapshot, op, today, offline)
    if refused is not None:
        return refused
    cost = op_cost(rules, snapshot, op, today, catalog)
    if isinstance(cost, Verdict):
        return Verdict(False, cost.reason, cost.message, offline, Cost())
    refused = _covers(snapshot, cost, offline) or _stored_value_policy(rules, snapshot, op, offline)
    if refused is not None:
        return refused
    if offline:
        refused = _offline_limits(rules, snapshot, cost, counters, now_ms)
        if refused is not None:
            return refused
    return Verdict(True, Reason.OK, "accepted offline" if offline else "accepted", offline, cost)


def _capability(
    rules: RuleSet, device: DeviceKind | None, branch: str, op: m.AnyOp, offline: bool
) -> Verdict | None:
    """The hub's capability check (tapcard.domain.authority), before anything is queued:
    offline, goods the hub will refuse are never handed over."""
    if device is None:
        return None
    denial = op_denial(rules, device, branch, op)
    if denial is None:
        return None
    if denial.kind is DenialKind.OPERATION:
        return _refuse(Reason.DEVICE_NOT_ALLOWED, denial.message, offline)
    return _refuse(Reason.AMOUNT_NOT_ALLOWED, denial.message, offline)


def _refuse(reason: Reason, message: str, offline: bool = False) -> Verdict:
    assert reason is not Reason.OK
    return Verdict(False, reason, message, offline, Cost())


def _card_state(snapshot: m.Snapshot, op: m.AnyOp, today: dt.date, offline: bool) -> Verdict | None:
    state = effective_card_state(snapshot.state, snapshot.expires_on, today)
    if card_allows(state, renewal=isinstance(op, m.Renewal)):
        return None
    reason = Reason.CARD_NOT_ALLOWED if state is None else CARD_STATE_REASON[state]
    return _refuse(reason, f"card {snapshot.card_id} is {state or 'unusable'}", offline)


def _covers(snapshot: m.Snapshot, cost: Cost, offline: bool) -> Verdict | None:
    balances = snapshot.balances or m.Balances(points=0, growth=0, stored_value_cents=0)
    if cost.points > balances.points:
        return _refuse(
            Reason.INSUFFICIENT_POINTS,
            f"needs {cost.points} points, the card has {balances.points}",
            offline,
        )
    if cost.cents > balances.stored_value_cents:
        return _refuse(
            Reason.INSUFFICIENT_FUNDS,
            f"needs {cost.cents} cents, the card holds {balances.stored_value_cents}",
            offline,
        )
    return None


def _stored_value_policy(
    rules: RuleSet, snapshot: m.Snapshot, op: m.AnyOp, offline: bool
) -> Verdict | None:
    """A top-up within the per-card and per-top-up caps (the hub's check, on the
    snapshot's balance and real-name flag)."""
    if not isinstance(op, m.TopUp):
        return None
    held = snapshot.balances.stored_value_cents if snapshot.balances else 0
    over = topup_refusal(
        rules, real_name=snapshot.real_name, balance_cents=held, amount_cents=op.amount_cents
    )
    return _refuse(Reason.STORED_VALUE_CAP, over, offline) if over else None


def _offline_limits(
    rules: RuleSet, snapshot: m.Snapshot, cost: Cost, counters: DayCounters, now_ms: int
) -> Verdict | None:
    policy = rules.offline
    age_s = (now_ms - snapshot.as_of_ms) // 1000
    if age_s > policy.cache_age_s_max:
        return _refuse(
            Reason.LIMIT_EXCEEDED,
            f"the card was last seen online {age_s} s ago (offline limit "
            f"{policy.cache_age_s_max} s)",
            True,
        )
    # The same caps the hub applies when it books the intent (tapcard.domain.authority).
    over = offline_limit_error(policy, counters, cost.cents, cost.points)
    if over:
        return _refuse(Reason.LIMIT_EXCEEDED, over, True)
    return None
