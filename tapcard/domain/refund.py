"""What a refund gives back and takes back: the sale priced again without what returns.

A refund of some lines (or some of a line's quantity) of a sale is priced pro rata by
the sale's own rules, tier and day: quote what the member keeps before this refund and
what they keep after it; money back is net(before) - net(after), and the points and
growth taken back likewise. Successive refunds of one sale so add up to exactly what it
took: a whole sale refunded in any number of steps gives back its net and takes back
its points. A spend-over discount (满减) whose threshold the rest no longer meets comes
back out of the refund by itself, because the "after" quote no longer has it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tapcard.domain import engine
from tapcard.domain.engine import MemberContext, Pricing, SaleLine, SaleQuote
from tapcard.domain.rules import RuleSet


class RefundError(ValueError):
    """A refund that cannot be: the message says why (English, for logs and HQ)."""

    def __init__(self, message: str, *, exceeds: bool = False) -> None:
        super().__init__(message)
        self.exceeds = exceeds  # more than was sold and not yet refunded


@dataclass(frozen=True, slots=True)
class RefundQuote:
    money_cents: int  # what the member gets back
    points: int  # points taken back (before any shortfall: the balance may lack them)
    growth: int
    refunding: Mapping[int, int]  # line number -> quantity this refund takes back
    net_after_cents: int  # what the kept lines cost now


_NOTHING = SaleQuote(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, (), (), ())


def kept_lines(lines: Sequence[SaleLine], refunded: Mapping[int, int]) -> list[SaleLine]:
    """The sale's lines with the refunded quantities taken off; empty lines dropped."""
    kept = []
    for number, line in enumerate(lines):
        left = line.quantity - refunded.get(number, 0)
        assert left >= 0, (number, left)
        if left:
            kept.append(replace(line, quantity=left))
    return kept


def refund_request(
    lines: Sequence[SaleLine],
    refunded: Mapping[int, int],
    wanted: Sequence[tuple[int, int]],
) -> dict[int, int]:
    """Line -> quantity this refund takes back; `wanted` empty: all that is left."""
    if not wanted:
        rest = {n: line.quantity - refunded.get(n, 0) for n, line in enumerate(lines)}
        whole = {n: q for n, q in rest.items() if q > 0}
        if not whole:
            raise RefundError("everything of this sale was already refunded")
        return whole
    out: dict[int, int] = {}
    for number, quantity in wanted:
        if not 0 <= number < len(lines):
            raise RefundError(f"the sale has no line {number}", exceeds=True)
        if quantity < 1:
            raise RefundError(f"line {number}: a quantity is at least 1")
        out[number] = out.get(number, 0) + quantity
    for number, quantity in out.items():
        left = lines[number].quantity - refunded.get(number, 0)
        if quantity > left:
            raise RefundError(f"line {number}: {quantity} asked, {left} left", exceeds=True)
    return out


def _quote(
    rules: RuleSet,
    member: MemberContext,
    lines: list[SaleLine],
    on: dt.date,
    pricing: Pricing | None = None,
) -> SaleQuote:
    if not lines:  # all of it refunded: nothing kept, nothing owed or earned
        return _NOTHING
    return engine.quote_sale(rules, member, lines, on, pricing)


def refund_quote(
    rules: RuleSet,
    member: MemberContext,
    lines: Sequence[SaleLine],
    refunded: Mapping[int, int],
    wanted: Sequence[tuple[int, int]],
    on: dt.date,
    pricing: Pricing | None = None,
) -> RefundQuote:
    """Price a refund of `wanted` ((line, quantity); empty: the rest) of a sale of
    `lines` that earlier refunds already took `refunded` of; `on` is the sale's day,
    `pricing` the catalog's member prices the sale had."""
    refunding = refund_request(lines, refunded, wanted)
    after = dict(refunded)
    for number, quantity in refunding.items():
        after[number] = after.get(number, 0) + quantity
    before_q = _quote(rules, member, kept_lines(lines, refunded), on, pricing)
    after_q = _quote(rules, member, kept_lines(lines, after), on, pricing)
    money = before_q.net_cents - after_q.net_cents
    if money < 0:
        # The rest would lose a discount worth more than what comes back: the member
        # would owe money. Refunding more (or all) of the sale gives a sensible result.
        raise RefundError(
            f"the rest would cost {-money} cents more than this gives back: refund more of it"
        )
    return RefundQuote(
        money_cents=money,
        points=max(0, before_q.points - after_q.points),
        growth=max(0, before_q.growth - after_q.growth),
        refunding=refunding,
        net_after_cents=after_q.net_cents,
    )


def tier_at_sale(
    rules: RuleSet,
    member: MemberContext,
    lines: Sequence[SaleLine],
    on: dt.date,
    net_cents: int,
) -> str:
    """For a sale booked before the tier was recorded: the tier whose quote gives the
    net the sale booked (the member's tier now when it is among them, else the first)."""
    names = [member.tier] + [t.name for t in rules.tiers if t.name != member.tier]
    for name in names:
        if rules.tier(name).name != name:
            continue
        quote = engine.quote_sale(rules, replace(member, tier=name), list(lines), on)
        if quote.net_cents == net_cents:
            return name
    return member.tier
