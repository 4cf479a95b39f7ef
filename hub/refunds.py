"""Deciding a refund: a purchase or redemption given back, whole or by line and quantity.

The ledger loads a `RefundBook` for the refunds of a batch (the sales they name, what
earlier refunds took of each), `decide_refund` prices each one by the sale's own rule
version, tier and day (tapcard.domain.refund) and notes it in the book, so that two
refunds of one sale in one batch see each other as the stock does; the book writes the
rows of the refunds that were booked. The member's rows are locked by the ledger, and a
refund must come on a card of the sale's member, so refunds of one sale at two devices
are decided one after the other and never add up to more than was sold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import campaign_book, db
from hub.tenders import of_detail
from tapcard.domain import authority
from tapcard.domain import ledger as legs_of
from tapcard.domain.engine import MemberContext, Pricing, SaleLine
from tapcard.domain.model import Asset, DeviceKind, Payment, TxKind
from tapcard.domain.overrides import effective_rules
from tapcard.domain.refund import RefundError, refund_quote, tier_at_sale
from tapcard.domain.rules import RuleSet
from tapcard.domain.tenders import Tendered, encode_parts, refund_parts
from tapcard.wire.codes import Reason
from tapcard.wire.messages import Purchase, Redeem, Refund, TxIntent

if TYPE_CHECKING:  # the decision's context lives in hub.decide, which calls this
    from hub.decide import Decision, _Ctx

REFUNDABLE_KINDS = (TxKind.PURCHASE.value, TxKind.REDEEM.value)


@dataclass(slots=True)
class Sale:
    """A purchase or redemption as a refund needs it, with what was refunded so far."""

    tx_id: str
    kind: TxKind
    member_id: int
    card_id: str
    created_ms: int
    rules_version: int
    detail: dict[str, Any]
    earned: dict[Asset, int]  # net credits to the member's accounts (points, growth)
    lines: tuple[SaleLine, ...] = ()
    branch_id: str | None = None  # where it was sold: an HQ refund nets against it
    device_id: str | None = None  # what sold it: with the branch, its effective rules
    voucher: str = ""
    voucher_state: str = ""  # "" usable | used | voided | expired
    refunded: dict[int, int] = field(default_factory=dict)  # line -> quantity
    refunded_cents: int = 0
    refunded_points: int = 0
    refunded_growth: int = 0

    @property
    def payment(self) -> Payment | None:
        text = self.detail.get("payment")
        return Payment(text) if text else None

    @property
    def net_cents(self) -> int:
        return int(self.detail.get("net_cents", 0))

    @property
    def points_spent(self) -> int:  # a redemption's
        return int(self.detail.get("points", 0))

    @property
    def units(self) -> int:
        return int(self.detail.get("units", 1))


@dataclass(slots=True)
class RefundBook:
    sales: dict[str, Sale]  # by the reference the intents give
    rules: Callable[[int], RuleSet | None]
    refunds: dict[str, dict[str, object]] = field(default_factory=dict)  # refund tx -> row
    lines: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    voids: dict[str, str] = field(default_factory=dict)  # refund tx -> voucher code
    stock: dict[str, tuple[str, int]] = field(default_factory=dict)  # refund tx -> item

    @classmethod
    def load(
        cls, conn: Connection, refs: Sequence[str], rules: Callable[[int], RuleSet | None]
    ) -> RefundBook:
        return cls(load_sales(conn, refs), rules)

    def write(self, conn: Connection, transfers: Sequence[dict[str, object]], now_ms: int) -> None:
        """The rows of the refunds that were booked (a refused one leaves none), with
        where, when and by whom (the verified staff) from their transfers."""
        booked = {t["tx_id"]: t for t in transfers if t["tx_id"] in self.refunds}
        done = sorted(str(tx) for tx in booked)
        for tx in done:
            transfer = booked[tx]
            self.refunds[tx].update(
                branch_id=transfer["branch_id"],
                actor=transfer["actor"],
                created_ms=transfer["created_ms"],
            )
        db.bulk_insert(conn, db.refunds, [self.refunds[tx] for tx in done])
        db.bulk_insert(conn, db.refund_lines, [r for tx in done for r in self.lines[tx]])
        for tx in done:
            if tx in self.voids:
                self._void(conn, tx, booked[tx], now_ms)
            if tx in self.stock:
                item, units = self.stock[tx]
                s = db.stock
                conn.execute(
                    s.update().where(s.c.item == item).values(remaining=s.c.remaining + units)
                )

    def _void(self, conn: Connection, tx: str, transfer: dict[str, object], now_ms: int) -> None:
        """Void the voucher; one used at a car park in the moment since it was read is
        used all the same: HQ gets an exception, never a silent double."""
        v, code = db.vouchers, self.voids[tx]
        voided = conn.execute(
            v.update().where(v.c.code == code, v.c.used_ms.is_(None)).values(voided_ms=now_ms)
        ).rowcount
        if voided == 1:
            return
        row = self.refunds[tx]
        conn.execute(
            db.exceptions.insert().values(
                kind="refund_voucher_used",
                tx_id=tx,
                device_id=transfer["device_id"],
                card_id=transfer["card_id"],
                member_id=row["member_id"],
                asset=Asset.POINTS.value,
                amount=row["points"],
                detail=f"voucher {code} was used while its redemption was refunded",
                created_ms=now_ms,
            )
        )


def load_sales(conn: Connection, refs: Sequence[str]) -> dict[str, Sale]:
    """The purchases and redemptions these references name (a transfer id or a receipt
    number), with their refunds so far; unknown references are left out."""
    refs = sorted({r.strip() for r in refs if r.strip()})
    if not refs:
        return {}
    t = db.transfers
    by_receipt = dict(
        conn.execute(
            sa.select(db.receipts.c.receipt_no, db.receipts.c.tx_id).where(
                db.receipts.c.receipt_no.in_(refs)
            )
        ).all()
    )
    tx_of = {ref: by_receipt.get(ref, ref) for ref in refs}
    rows = conn.execute(
        sa.select(t).where(
            t.c.tx_id.in_(sorted(set(tx_of.values()))), t.c.kind.in_(REFUNDABLE_KINDS)
        )
    ).all()
    sales = {row.tx_id: _sale_of(row) for row in rows}
    _load_refunded(conn, sales)
    return {ref: sales[tx] for ref, tx in tx_of.items() if tx in sales}


def sale_rules(rules_of: Callable[[int], RuleSet | None], sale: Sale) -> RuleSet | None:
    """The rules the sale was decided with: its version's, with the overrides of the
    branch and device it was made at (its transfer's rules_effective names them)."""
    rules = rules_of(sale.rules_version)
    if rules is None or not rules.overrides:
        return rules
    return effective_rules(rules, sale.branch_id or "", sale.device_id or "")


def _sale_of(row: Any) -> Sale:
    detail = msgspec.json.decode(row.detail or "{}")
    lines = tuple(
        SaleLine(category=c, sku=s, unit_price_cents=int(p), quantity=int(q))
        for c, s, p, q in detail.get("lines", [])
    )
    return Sale(
        tx_id=row.tx_id,
        kind=TxKind(row.kind),
        member_id=int(row.member_id),
        card_id=row.card_id or "",
        created_ms=int(row.created_ms),
        rules_version=int(row.rules_version),
        detail=detail,
        earned={},
        lines=lines,
        branch_id=row.branch_id,
        device_id=row.device_id,
    )


def _load_refunded(conn: Connection, sales: dict[str, Sale]) -> None:
    if not sales:
        return
    ids = sorted(sales)
    rl, r, lg, v = db.refund_lines, db.refunds, db.legs, db.vouchers
    quantities = sa.select(rl.c.sale_tx_id, rl.c.line_no, sa.func.sum(rl.c.quantity))
    for tx, line_no, quantity in conn.execute(
        quantities.where(rl.c.sale_tx_id.in_(ids)).group_by(rl.c.sale_tx_id, rl.c.line_no)
    ):
        sales[tx].refunded[int(line_no)] = int(quantity)
    # The points a refund took back count with the shortfall the balance lacked.
    taken = r.c.points + r.c.points_shortfall
    sums = sa.select(r.c.sale_tx_id, *(sa.func.sum(c) for c in (r.c.cents, taken, r.c.growth)))
    for tx, cents, points, growth in conn.execute(
        sums.where(r.c.sale_tx_id.in_(ids)).group_by(r.c.sale_tx_id)
    ):
        sale = sales[tx]
        sale.refunded_cents, sale.refunded_points = int(cents), int(points)
        sale.refunded_growth = int(growth)
    credits = sa.select(lg.c.tx_id, lg.c.asset, sa.func.sum(lg.c.credit) - sa.func.sum(lg.c.debit))
    for tx, asset, total in conn.execute(
        credits.where(lg.c.tx_id.in_(ids), lg.c.account.like("m:%")).group_by(
            lg.c.tx_id, lg.c.asset
        )
    ):
        sales[tx].earned[Asset(asset)] = int(total)
    for row in conn.execute(sa.select(v).where(v.c.tx_id.in_(ids))):
        sale = sales[row.tx_id]
        sale.voucher = row.code
        mapping = row._mapping
        if row.used_ms is not None:
            sale.voucher_state = "used"
        elif row.voided_ms is not None:
            sale.voucher_state = "voided"
        elif mapping.get("expired_ms") is not None:
            sale.voucher_state = "expired"


def sale_pricing(detail: dict[str, Any]) -> Pricing | None:
    """The catalog's member prices and excluded SKUs a sale was priced with (hub/decide.py
    records them), or None for a sale booked without the catalog."""
    member, excluded = detail.get("member_cents"), detail.get("points_excluded")
    if member is None and excluded is None:
        return None
    member_cents = {str(k): int(v) for k, v in (member or {}).items()}
    return Pricing(member_cents=member_cents, points_excluded=frozenset(excluded or ()))


def sale_day(sale: Sale, rules: RuleSet) -> dt.date:
    return authority.business_date(sale.created_ms, rules.time_zone)


def sale_context(sale: Sale, rules: RuleSet, member: MemberContext) -> MemberContext:
    """The member as the rules saw them at the sale: its recorded tier, or for a sale
    booked before the tier was recorded, the tier that gives the net it booked."""
    tier = sale.detail.get("tier")
    if not isinstance(tier, str) or not tier:
        tier = tier_at_sale(rules, member, sale.lines, sale_day(sale, rules), sale.net_cents)
    # A card account's sale earned by its program at its branch (hub/decide.py).
    program, branch = (str(sale.detail.get(key) or "") for key in ("program", "branch"))
    return MemberContext(
        tier=tier,
        joined_on=member.joined_on,
        birthday=member.birthday,
        program=program,
        branch=branch,
    )


def decide_refund(
    ctx: _Ctx, op: Refund, book: RefundBook | None, device: DeviceKind | None
) -> Decision:
    """Accept (with legs) or refuse one refund; an accepted one is noted in the book."""
    sale = book.sales.get(op.ref.strip()) if book is not None else None
    if book is None or sale is None:
        return ctx.refuse(Reason.UNKNOWN_REFERENCE, f"no purchase or redemption {op.ref}")
    if device is DeviceKind.TERMINAL and not ctx.intent.staff:
        return ctx.refuse(Reason.STAFF_UNVERIFIED, "a refund at a counter needs staff logged in")
    if sale.member_id != ctx.member.id:
        return ctx.refuse(Reason.NOT_REFUNDABLE, f"card {ctx.intent.card_id} is not the sale's")
    if sale.kind is TxKind.REDEEM:
        return _refund_redemption(ctx, op, book, sale)
    rules = campaign_book.as_sold(sale_rules(book.rules, sale), sale.detail)  # targeting
    if rules is None or sale.payment is None:
        return ctx.refuse(Reason.NOT_REFUNDABLE, f"sale {sale.tx_id} cannot be priced again")
    member = sale_context(sale, rules, ctx.context())
    wanted = [(line.line_no, line.quantity) for line in op.lines]
    try:
        quote = refund_quote(
            rules,
            member,
            sale.lines,
            sale.refunded,
            wanted,
            sale_day(sale, rules),
            sale_pricing(sale.detail),
        )
    except RefundError as exc:
        reason = Reason.REFUND_EXCEEDS_SALE if exc.exceeds else Reason.NOT_REFUNDABLE
        return ctx.refuse(reason, str(exc))
    # Never beyond what the sale took and earned, whatever the rules did since.
    money = min(quote.money_cents, sale.net_cents - sale.refunded_cents)
    points = min(quote.points, sale.earned.get(Asset.POINTS, 0) - sale.refunded_points)
    growth = min(quote.growth, sale.earned.get(Asset.GROWTH, 0) - sale.refunded_growth)
    points, growth = max(0, points), max(0, growth)
    # Points already spent are not clawed back below zero: HQ sees the shortfall.
    taken = min(points, max(0, ctx.member.balance(Asset.POINTS)))
    growth = min(growth, max(0, ctx.member.balance(Asset.GROWTH)))
    if points > taken:
        detail = f"refund of {sale.tx_id}: {points - taken} points already spent"
        ctx.exceptions.append(("refund_points_shortfall", Asset.POINTS, points - taken, detail))
    # Back to the sale's tenders, the last first (docs/refunds.md); one tender: as before.
    paid = of_detail(sale.detail, sale.net_cents)
    back = refund_parts(paid, sale.refunded_cents, money) if len(paid) > 1 else ()
    legs = legs_of.refund_legs(ctx.member.id, money, sale.payment, taken, growth, back)
    _note(book, ctx, op, sale, quote.refunding, money, (taken, growth, points - taken))
    return ctx.ok(
        TxKind.REFUND,
        legs,
        f"refunded {money} cents of {sale.tx_id}",
        detail_json=_detail(op, sale, quote.refunding, money, taken, growth, back),
        net_cents=money,
        points_spent=taken,
    )


def _refund_redemption(ctx: _Ctx, op: Refund, book: RefundBook, sale: Sale) -> Decision:
    """A reward given back whole: its points back, its stock back, its voucher void."""
    if op.lines and [(x.line_no, x.quantity) for x in op.lines] != [(0, sale.units)]:
        return ctx.refuse(Reason.REFUND_EXCEEDS_SALE, "a redemption is refunded whole")
    if sale.voucher_state == "used":
        return ctx.refuse(Reason.VOUCHER_USED, f"voucher of {sale.tx_id} was used")
    if sale.voucher_state or sale.refunded_points:
        return ctx.refuse(Reason.NOT_REFUNDABLE, f"{sale.tx_id} was already given back")
    points = sale.points_spent
    _note(book, ctx, op, sale, {0: sale.units}, 0, (points, 0, 0))
    tx = str(ctx.intent.tx_id)
    if sale.voucher:
        book.voids[tx] = sale.voucher
    item = str(sale.detail.get("item", ""))
    rules = sale_rules(book.rules, sale)
    catalog = rules.catalog_item(item) if rules is not None else None
    if catalog is not None and catalog.stock is not None:
        book.stock[tx] = (item, sale.units)
    return ctx.ok(
        TxKind.REFUND,
        legs_of.redemption_refund_legs(ctx.member.id, points),
        f"gave back {item} x{sale.units}",
        detail_json=_detail(op, sale, {0: sale.units}, 0, points, 0),
        points_earned=points,
        item=item,
        units=sale.units,
    )


def _note(
    book: RefundBook,
    ctx: _Ctx,
    op: Refund,
    sale: Sale,
    refunding: dict[int, int] | Any,
    money: int,
    points_growth_short: tuple[int, int, int],
) -> None:
    """What a later refund of the same sale in this batch must see, and the rows."""
    points, growth, short = points_growth_short
    for number, quantity in refunding.items():
        sale.refunded[number] = sale.refunded.get(number, 0) + quantity
    sale.refunded_cents += money
    sale.refunded_points += points + short
    sale.refunded_growth += growth
    tx = str(ctx.intent.tx_id)
    payment = sale.payment
    book.refunds[tx] = {
        "tx_id": tx,
        "sale_tx_id": sale.tx_id,
        "sale_kind": sale.kind.value,
        "member_id": sale.member_id,
        "branch_id": None,  # these three from the transfer, once booked
        "actor": "",
        "reason": op.reason,
        "payment": payment.value if payment is not None else "",
        "cents": money,
        "points": points,
        "growth": growth,
        "points_shortfall": short,
        "created_ms": 0,
    }
    book.lines[tx] = [
        {"sale_tx_id": sale.tx_id, "line_no": n, "tx_id": tx, "quantity": q}
        for n, q in sorted(refunding.items())
    ]


def _detail(
    op: Refund,
    sale: Sale,
    refunding: Any,
    money: int,
    points: int,
    growth: int,
    back: Sequence[Tendered] = (),
) -> str:
    detail: dict[str, object] = {
        "refunds": sale.tx_id,
        "reason": op.reason,
        "lines": [[n, q] for n, q in sorted(refunding.items())],
        "cents": money,
        "points": points,
        "growth": growth,
        "payment": sale.detail.get("payment", ""),
    }
    if back:  # the tenders of a split sale it went back to
        detail["tenders"] = encode_parts(back)
    return msgspec.json.encode(detail).decode()


def sale_refunded_at(batch: Sequence[tuple[str, TxIntent]]) -> int:
    """The first refund naming a sale earlier in the batch (by transfer id or receipt
    number), or 0: an offline counter that sold and refunded flushes both together, and
    a refund is decided against the sales already booked (RefundBook)."""
    sold: set[str] = set()
    for index, (tx, intent) in enumerate(batch):
        op = intent.op
        if isinstance(op, Refund) and op.ref.strip() in sold:
            return index
        if isinstance(op, Purchase | Redeem):
            sold.add(tx)
        if isinstance(op, Purchase) and op.receipt_no:
            sold.add(op.receipt_no)
    return 0
