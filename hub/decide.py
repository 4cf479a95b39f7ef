"""Deciding one intent: the domain rules applied to one member's current state.

Pure apart from the state objects handed in (no database here), so that every rule
path is testable directly and the ledger stays about reading and writing. The member's
state (`hub.member_state.MemberState`) is loaded, changed by the posted legs and
written elsewhere; a decision only reads it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from hub import campaign_book, tenders
from hub.authority import (
    Sender,
    Spent,
    cap_offline,
    capability_refusal,
    member_debit,
    operation_of,
)
from hub.refunds import decide_refund
from tapcard.domain import authority, engine, products
from tapcard.domain import ledger as legs_of
from tapcard.domain.engine import MemberContext, SaleQuote
from tapcard.domain.ledger import Leg
from tapcard.domain.model import (
    Asset,
    CardKind,
    CardState,
    DeviceKind,
    FeeKind,
    TxKind,
    card_allows,
    effective_card_state,
)
from tapcard.domain.overrides import branch_products
from tapcard.domain.rules import CARD_KINDS_STORED_VALUE, CatalogItem, RuleSet
from tapcard.wire.codes import CARD_STATE_REASON, Reason
from tapcard.wire.messages import (
    Backfill,
    Fee,
    Purchase,
    Redeem,
    Refund,
    Renewal,
    Spend,
    TopUp,
    TxIntent,
)

if TYPE_CHECKING:  # the state is read and written in hub.member_state; only its shape here
    from hub.member_state import MemberState
    from hub.refunds import RefundBook


@dataclass(slots=True)
class CardInfo:
    """A card as read at the start of a batch; renewal changes it in place."""

    id: str
    member_id: int
    kind: str
    state: str
    expires_on: dt.date
    state_ms: int
    daily_cents_max: int | None
    daily_points_max: int | None
    changed: bool = False

    @classmethod
    def from_row(cls, row: Any) -> CardInfo:
        return cls(
            id=row.id,
            member_id=int(row.member_id),
            kind=row.kind,
            state=row.state,
            expires_on=row.expires_on,
            state_ms=int(row.state_ms),
            daily_cents_max=row.daily_cents_max,
            daily_points_max=row.daily_points_max,
        )


@dataclass(slots=True)
class Decision:
    reason: Reason
    message: str
    today: dt.date
    kind: TxKind = TxKind.PURCHASE
    legs: list[Leg] = field(default_factory=list)
    detail_json: str = "{}"
    net_cents: int = 0
    discount_cents: int = 0
    points_earned: int = 0
    points_spent: int = 0
    voucher: str = ""
    voucher_item: CatalogItem | None = None  # the voucher's terms come from it
    item: str = ""
    units: int = 0
    receipt_no: str = ""
    new_tier: str = ""
    new_expiry: dt.date | None = None
    lines: tuple[engine.SaleLine, ...] = ()  # a sale's lines, for sales by category
    campaign_offs: tuple[tuple[str, int], ...] = ()  # (code, discount it gave)
    campaign_costs: campaign_book.Costs = ()  # what each cost, counted in its budget
    # (kind, asset, amount, detail): applied although the offline decision was wrong
    exceptions: list[tuple[str, Asset, int, str]] = field(default_factory=list)


def refuse(reason: Reason, message: str, today: dt.date) -> Decision:
    assert reason is not Reason.OK
    return Decision(reason=reason, message=message, today=today)


def decide(
    *,
    intent: TxIntent,
    rules: RuleSet | None,
    card: CardInfo | None,
    member: MemberState | None,
    stock: dict[str, int],
    receipts: set[str],
    voucher_secret: bytes,
    today: dt.date,
    now_ms: int,
    sender: Sender,
    refunds: RefundBook | None = None,
    catalog: products.Catalog | None = None,
    campaigns: campaign_book.CampaignBook | None = None,
) -> Decision:
    """Accept (with legs) or refuse (with a reason) one intent. `catalog`: the hub's
    products the batch's sales name and who may sell free amounts (None: no catalog)."""
    if rules is None:
        return refuse(
            Reason.UNKNOWN_RULES_VERSION, f"rule set {intent.rules_version} is unknown", today
        )
    denied = capability_refusal(rules, sender, intent.op)
    if denied is not None:
        return refuse(*denied, today)
    if card is None or member is None:
        return refuse(Reason.UNKNOWN_CARD, f"card {intent.card_id} is not known", today)
    exceptions: list[tuple[str, Asset, int, str]] = []
    refused = _check_card(intent, card, member, today, exceptions)
    if refused is not None:
        return refused
    ctx = _Ctx(intent, rules, member, today, exceptions, stock, receipts, voucher_secret, card)
    ctx.refunds, ctx.device, ctx.branch = refunds, sender.device, sender.branch
    ctx.catalog, ctx.campaigns = catalog, campaigns
    decision = _decide_op(ctx)
    if decision.reason is not Reason.OK:
        return decision
    if decision.kind is TxKind.REFUND:  # gives back what a sale took: no spending limits
        decision.exceptions = exceptions + decision.exceptions
        return decision
    over_limit = _card_limit_error(card, sender.card_day, decision)
    if over_limit:
        item = rules.catalog_item(decision.item) if decision.item else None
        if item is not None and item.stock is not None:
            stock[item.code] += decision.units  # give back what _redeem took
        return refuse(Reason.LIMIT_EXCEEDED, over_limit, today)
    decision.exceptions = exceptions + decision.exceptions
    if intent.offline:
        cap_offline(decision, member, rules, sender)
    sender.card_day.cents += _member_debit(decision, member.id, Asset.CENTS)
    sender.card_day.points += _member_debit(decision, member.id, Asset.POINTS)
    if decision.new_expiry is not None:
        card.expires_on, card.state, card.state_ms = decision.new_expiry, CardState.ACTIVE, now_ms
        card.changed = True
    return decision


def _member_debit(decision: Decision, member_id: int, asset: Asset) -> int:
    return member_debit(decision.legs, member_id, asset)


def _card_limit_error(card: CardInfo, spent: Spent, decision: Decision) -> str:
    """A supplementary card spends the shared accounts only within its own daily limits
    (the day is the hub's business day of the intent)."""
    if card.daily_cents_max is None and card.daily_points_max is None:
        return ""
    spend_cents = _member_debit(decision, card.member_id, Asset.CENTS)
    spend_points = _member_debit(decision, card.member_id, Asset.POINTS)
    cents_max, points_max = card.daily_cents_max, card.daily_points_max
    if cents_max is not None and spend_cents and spent.cents + spend_cents > cents_max:
        return f"card {card.id} may spend {cents_max} cents a day"
    if points_max is not None and spend_points and spent.points + spend_points > points_max:
        return f"card {card.id} may redeem {points_max} points a day"
    return ""


def _check_card(
    intent: TxIntent,
    card: CardInfo,
    member: MemberState,
    today: dt.date,
    exceptions: list[tuple[str, Asset, int, str]],
) -> Decision | None:
    state = effective_card_state(card.state, card.expires_on, today, member.state)
    kind, _, _ = operation_of(intent.op)
    if card.kind not in CARD_KINDS_STORED_VALUE and (
        kind is TxKind.TOPUP or tenders.uses_stored_value(intent.op)
    ):
        # Such a card may be an unchecked tag (RuleSet.unchecked_tag_kinds): never money.
        return refuse(Reason.CARD_NOT_ALLOWED, f"a {card.kind} card holds no stored value", today)
    if card_allows(state, renewal=isinstance(intent.op, Renewal)):
        return None
    if intent.offline:
        # The device could not know; the goods were handed over. Book it and tell HQ.
        exceptions.append(("offline_card_state", Asset.CENTS, 0, f"card was {state}"))
        return None
    reason = Reason.CARD_NOT_ALLOWED if state is None else CARD_STATE_REASON[state]
    return refuse(reason, f"card {intent.card_id} is {state or 'unusable'}", today)


@dataclass(slots=True)
class _Ctx:
    intent: TxIntent
    rules: RuleSet
    member: MemberState
    today: dt.date
    exceptions: list[tuple[str, Asset, int, str]]
    stock: dict[str, int]
    receipts: set[str]
    voucher_secret: bytes
    card: CardInfo
    refunds: RefundBook | None = None  # the sales a batch's refunds name (hub.refunds)
    device: DeviceKind | None = None
    branch: str = ""  # the sending device's: where a co-branded card's partners are
    catalog: products.Catalog | None = None
    campaigns: campaign_book.CampaignBook | None = None  # the batch's targeting and budgets
    # Made once per intent: a purchase asks for it three times, and the member's tier
    # does not change while its intent is decided (the new tier is applied after).
    _context: MemberContext | None = None

    def ok(self, kind: TxKind, legs: list[Leg], message: str, **kw: Any) -> Decision:
        return Decision(Reason.OK, message, self.today, kind=kind, legs=legs, **kw)

    def refuse(self, reason: Reason, message: str) -> Decision:
        return refuse(reason, message, self.today)

    def covers(self, asset: Asset, amount: int, what: str) -> bool:
        """Whether the balance covers `amount`; offline shortfalls become exceptions."""
        # Only what this intent takes below zero: an earlier overdraw is its own exception.
        shortfall = amount - max(0, self.member.balance(asset))
        if shortfall <= 0:
            return True
        if self.intent.offline:
            detail = f"offline {what} overdrew {asset.value} by {shortfall}"
            self.exceptions.append(("offline_overdraw", asset, shortfall, detail))
            return True
        return False

    def context(self) -> MemberContext:
        if self._context is not None:
            return self._context
        tier = self.member.tier
        if all(t.name != tier for t in self.rules.tiers):
            tier = self.rules.tiers[0].name
        self._context = MemberContext(
            tier=tier,
            joined_on=self.member.joined_on,
            birthday=self.member.birthday,
            program=self.member.program,
            branch=self.branch,
        )
        return self._context


def _decide_op(ctx: _Ctx) -> Decision:
    op = ctx.intent.op
    if isinstance(op, Purchase):
        return _purchase(ctx, op)
    if isinstance(op, TopUp):
        over = authority.topup_refusal(
            ctx.rules,
            real_name=ctx.member.real_name,
            balance_cents=ctx.member.balance(Asset.CENTS),
            amount_cents=op.amount_cents,
        )
        if over:
            return ctx.refuse(Reason.STORED_VALUE_CAP, over)
        split = tenders.refusal(op, op.amount_cents)
        if split:
            return ctx.refuse(Reason.INVALID_REQUEST, split)
        legs = legs_of.topup_legs(ctx.member.id, op.amount_cents, tenders.parts(op))
        detail = msgspec.json.encode(tenders.detail(op, op.amount_cents)).decode()
        return ctx.ok(
            TxKind.TOPUP, legs, "topped up", net_cents=op.amount_cents, detail_json=detail
        )
    if isinstance(op, Spend):
        if not ctx.covers(Asset.CENTS, op.amount_cents, "spend"):
            return ctx.refuse(Reason.INSUFFICIENT_FUNDS, "stored value does not cover it")
        legs = legs_of.spend_legs(ctx.member.id, op.amount_cents)
        return ctx.ok(TxKind.SPEND, legs, "paid from stored value", net_cents=op.amount_cents)
    if isinstance(op, Redeem):
        return _redeem(ctx, op)
    if isinstance(op, Backfill):
        return _backfill(ctx, op)
    if isinstance(op, Refund):
        return decide_refund(ctx, op, ctx.refunds, ctx.device)
    if isinstance(op, Fee):
        return _fee(ctx, op.fee, op, TxKind.FEE)
    assert isinstance(op, Renewal)
    # A supplementary card's renewal charges its own annual fee (fees.supplementary_cents);
    # a lapsed joining by spend the joining fee, as HQ does (hub.admin.joining).
    supplementary = ctx.card.kind == CardKind.SUPPLEMENTARY
    annual = FeeKind.SUPPLEMENTARY if supplementary else FeeKind.ANNUAL
    fee = FeeKind.JOINING if ctx.member.join_lapsed else annual
    return _fee(ctx, fee, op, TxKind.RENEWAL)


def _earned_tier(ctx: _Ctx, growth: int) -> str:
    current = ctx.context().tier
    reached = engine.tier_for_growth(ctx.rules, ctx.member.balance(Asset.GROWTH) + growth, current)
    return reached.name if reached.name != ctx.member.tier else ""


def _quote_detail(quote: SaleQuote, **extra: Any) -> str:
    detail = {
        "gross_cents": quote.gross_cents,
        "discount_cents": quote.discount_cents,
        "net_cents": quote.net_cents,
        "excluded_cents": quote.excluded_cents,
        "remainder_cents": quote.remainder_cents,
        "points": quote.points,
        "factor_pct": quote.factor_pct,
        "campaigns": list(quote.campaigns),
        "gifts": list(quote.gifts),
        **extra,
    }
    return msgspec.json.encode(detail).decode()


def _program_detail(ctx: _Ctx) -> dict[str, str]:
    """A card account's program and the sale's branch, for its refund to earn as it did."""
    return {"program": ctx.member.program, "branch": ctx.branch} if ctx.member.program else {}


def _purchase(ctx: _Ctx, op: Purchase) -> Decision:
    errors = engine.validate_lines(op.lines)
    if errors:
        return ctx.refuse(Reason.INVALID_REQUEST, "; ".join(errors))
    if op.receipt_no and op.receipt_no in ctx.receipts:
        return ctx.refuse(Reason.RECEIPT_USED, f"receipt {op.receipt_no} is already booked")
    tier = ctx.context().tier
    priced = _catalog_prices(ctx, op, tier)
    if isinstance(priced, Decision):
        return priced
    sale_lines, pricing, extra = priced
    quote, costs = campaign_book.quote(ctx, sale_lines, pricing)  # and offline differences
    split = tenders.refusal(op, quote.net_cents)  # a split pays exactly the net, or nothing
    if split:
        return ctx.refuse(Reason.INVALID_REQUEST, split)
    stored = tenders.stored_value_cents(op, quote.net_cents)
    if stored and not ctx.covers(Asset.CENTS, stored, "purchase"):
        return ctx.refuse(Reason.INSUFFICIENT_FUNDS, "stored value does not cover the sale")
    legs = legs_of.sale_legs(ctx.member.id, quote, op.payment, tenders.parts(op))
    lines = [[line.category, line.sku, line.unit_price_cents, line.quantity] for line in sale_lines]
    return ctx.ok(
        TxKind.PURCHASE,
        legs,
        "sale booked",
        # The tier too: a refund prices the sale again as it was (hub/refunds.py).
        detail_json=_quote_detail(
            quote,
            payment=op.payment.value,
            lines=lines,
            tier=tier,
            **_program_detail(ctx),
            **extra,
            **tenders.detail(op, quote.net_cents),
        ),
        net_cents=quote.net_cents,
        discount_cents=quote.discount_cents,
        points_earned=quote.points,
        receipt_no=op.receipt_no,
        new_tier=_earned_tier(ctx, quote.growth),
        lines=sale_lines,
        campaign_offs=quote.campaign_offs,
        campaign_costs=costs,
    )


def _catalog_prices(
    ctx: _Ctx, op: Purchase, tier: str
) -> tuple[tuple[engine.SaleLine, ...], engine.Pricing | None, dict[str, Any]] | Decision:
    """The sale's lines as the hub's catalog prices them (the hub is the authority on the
    price: a device's differing price is an exception for HQ), the pricing the refund
    needs again, and its detail; or the refusal of a free amount the sender may not sell."""
    catalog = ctx.catalog
    if catalog is None or not catalog.in_use:
        return tuple(op.lines), None, {}
    # At this branch's prices, without what it does not sell (docs/rules.md "Overrides").
    repriced = products.reprice(branch_products(catalog.products, ctx.rules), tier, op.lines)
    if repriced.free and not catalog.free_amounts:
        line = op.lines[repriced.free[0]]
        what = f"sku {line.sku} is not in the product catalog" if line.sku else "a free amount"
        return ctx.refuse(Reason.UNKNOWN_ITEM, f"{what}: only a manager may sell it")
    for d in repriced.differences:
        quantity = op.lines[d.line].quantity
        detail = f"line {d.line} ({d.sku}): device {d.device_cents}, catalog {d.catalog_cents}"
        cents = abs(d.device_cents - d.catalog_cents) * quantity
        ctx.exceptions.append(("catalog_price", Asset.CENTS, cents, detail))
    extra: dict[str, Any] = {
        "catalog_version": catalog.version,
        "member_cents": dict(repriced.pricing.member_cents),
        "points_excluded": sorted(repriced.pricing.points_excluded),
    }
    return repriced.lines, repriced.pricing, extra


def _redeem(ctx: _Ctx, op: Redeem) -> Decision:
    item: CatalogItem | None = ctx.rules.catalog_item(op.item)
    if item is None:
        return ctx.refuse(Reason.UNKNOWN_ITEM, f"{op.item} is not in the catalog")
    if op.units > item.units_max:
        return ctx.refuse(Reason.INVALID_REQUEST, f"at most {item.units_max} units of {item.code}")
    points = engine.redemption_points(item, op.units)
    if item.stock is not None:
        remaining = ctx.stock.get(item.code, 0)
        if remaining < op.units:
            return ctx.refuse(Reason.OUT_OF_STOCK, f"{item.name} is out of stock")
        ctx.stock[item.code] = remaining - op.units
    if not ctx.covers(Asset.POINTS, points, "redemption"):
        if item.stock is not None:
            ctx.stock[item.code] += op.units
        return ctx.refuse(
            Reason.INSUFFICIENT_POINTS,
            f"{item.name} needs {points} points, the card has {ctx.member.balance(Asset.POINTS)}",
        )
    code = engine.voucher_code(ctx.voucher_secret, str(ctx.intent.tx_id))
    detail = msgspec.json.encode({"item": item.code, "units": op.units, "points": points})
    return ctx.ok(
        TxKind.REDEEM,
        legs_of.redeem_legs(ctx.member.id, points),
        f"{item.name} x{op.units}",
        detail_json=detail.decode(),
        points_spent=points,
        voucher=code,
        voucher_item=item,
        item=item.code,
        units=op.units,
    )


def _backfill(ctx: _Ctx, op: Backfill) -> Decision:
    errors = engine.validate_lines(op.lines)
    if errors:
        return ctx.refuse(Reason.INVALID_REQUEST, "; ".join(errors))
    why_not = engine.backfill_error(ctx.rules, op.receipt_on, ctx.today)
    if why_not:
        return ctx.refuse(Reason.BACKFILL_WINDOW, why_not)
    if op.receipt_no in ctx.receipts:
        return ctx.refuse(Reason.RECEIPT_USED, f"receipt {op.receipt_no} already earned points")
    # Points as the rules stood on the day of the receipt (multipliers, birthday).
    quote = engine.quote_sale(ctx.rules, ctx.context(), op.lines, op.receipt_on)
    return ctx.ok(
        TxKind.BACKFILL,
        legs_of.earn_legs(ctx.member.id, quote.points, quote.growth),
        f"backfilled receipt {op.receipt_no}",
        detail_json=_quote_detail(quote, receipt_no=op.receipt_no),
        points_earned=quote.points,
        receipt_no=op.receipt_no,
        new_tier=_earned_tier(ctx, quote.growth),
    )


def _fee(ctx: _Ctx, kind: FeeKind, op: Fee | Renewal, tx_kind: TxKind) -> Decision:
    amount, payment = engine.fee_cents(ctx.rules, kind), op.payment
    if tx_kind is TxKind.FEE and amount == 0:
        return ctx.refuse(Reason.INVALID_REQUEST, f"the rule set charges no {kind.value} fee")
    split = tenders.refusal(op, amount)
    if split:
        return ctx.refuse(Reason.INVALID_REQUEST, split)
    stored = tenders.stored_value_cents(op, amount)
    if stored and not ctx.covers(Asset.CENTS, stored, "fee"):
        return ctx.refuse(Reason.INSUFFICIENT_FUNDS, "stored value does not cover the fee")
    new_expiry = None
    if tx_kind is TxKind.RENEWAL:
        new_expiry = engine.renewed_expiry(ctx.rules, ctx.card.expires_on, ctx.today)
    legs = legs_of.fee_legs(ctx.member.id, amount, payment, tenders.parts(op))
    detail: dict[str, Any] = {"fee": kind.value, "payment": payment.value}
    detail |= tenders.detail(op, amount)
    if new_expiry is not None:
        detail["expires_on"] = new_expiry.isoformat()
        # The card's expiry before: points frozen since then thaw (hub/point_buckets.py).
        detail["renewed_from"] = ctx.card.expires_on.isoformat()
    return ctx.ok(
        tx_kind,
        legs,
        f"{kind.value} fee" if tx_kind is TxKind.FEE else f"renewed until {new_expiry}",
        detail_json=msgspec.json.encode(detail).decode(),
        net_cents=amount,
        new_expiry=new_expiry,
    )
