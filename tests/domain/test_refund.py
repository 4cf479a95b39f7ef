"""Pro-rata refunds (tapcard.domain.refund): the sale priced again without what returns.

Scenario: a member bought three lines; they bring back some of them, once or in several
visits. Each refund gives back net(kept before) - net(kept after) by the sale's rules,
so the refunds of a sale add up to exactly its net and its points, a spend-over
discount the rest no longer reaches comes out of the refund, and asking for more than
is left, or for a line the sale does not have, is refused.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapcard.domain import engine
from tapcard.domain.refund import RefundError, kept_lines, refund_quote, tier_at_sale
from tapcard.domain.rules import CampaignKind
from tests.domain.helpers import line, make_rules, member
from tests.domain.test_discounts import SPEND_200_GET_20, campaign

ON = dt.date(2026, 6, 11)
LINES = [line(10_000, quantity=2), line(5_000), line(3_000, category="group_buy")]


def test_a_partial_refund_of_a_plain_sale_gives_back_the_line() -> None:
    rules = make_rules()
    quote = refund_quote(rules, member(), LINES, {}, [(1, 1)], ON)
    assert (quote.money_cents, quote.points, quote.growth) == (5_000, 50, 50)
    assert dict(quote.refunding) == {1: 1}


def test_a_tier_discount_comes_back_pro_rata() -> None:
    rules = make_rules()
    quote = refund_quote(rules, member("silver"), LINES, {}, [(0, 1)], ON)
    assert quote.money_cents == 10_000 - 300  # 3 % off the line, as at the sale


def test_a_spend_over_discount_the_rest_no_longer_reaches_comes_out_of_the_refund() -> None:
    """满200减20: 250 yuan bought, 20 off; 50 come back; the rest (200) still reaches
    it; then 100 more come back and the rest (100) no longer does: the 20 off the sale
    had comes out of that refund."""
    rules = make_rules(campaigns=(SPEND_200_GET_20,))
    lines = [line(10_000, quantity=2), line(5_000)]
    sold = engine.quote_sale(rules, member(), lines, ON)
    assert sold.net_cents == 23_000
    first = refund_quote(rules, member(), lines, {}, [(1, 1)], ON)
    assert first.money_cents == 5_000
    second = refund_quote(rules, member(), lines, {1: 1}, [(0, 1)], ON)
    assert second.money_cents == 10_000 - 2_000
    assert second.net_after_cents == 10_000
    last = refund_quote(rules, member(), lines, {0: 1, 1: 1}, [], ON)
    assert first.money_cents + second.money_cents + last.money_cents == sold.net_cents


def test_a_refund_that_would_leave_the_member_owing_is_refused() -> None:
    """199.90 and 1.00 yuan bought, 20 off (net 180.90): the 1.00 back would leave
    199.90 without the discount, more than was paid for both."""
    rules = make_rules(campaigns=(SPEND_200_GET_20,))
    lines = [line(19_990), line(100)]
    with pytest.raises(RefundError, match="refund more"):
        refund_quote(rules, member(), lines, {}, [(1, 1)], ON)


def test_more_than_is_left_and_unknown_lines_are_refused() -> None:
    rules = make_rules()
    with pytest.raises(RefundError) as too_many:
        refund_quote(rules, member(), LINES, {0: 1}, [(0, 2)], ON)
    assert too_many.value.exceeds
    with pytest.raises(RefundError) as no_line:
        refund_quote(rules, member(), LINES, {}, [(3, 1)], ON)
    assert no_line.value.exceeds
    with pytest.raises(RefundError, match="already refunded"):
        refund_quote(rules, member(), LINES, {0: 2, 1: 1, 2: 1}, [], ON)


def test_excluded_categories_give_money_back_and_take_no_points() -> None:
    quote = refund_quote(make_rules(), member(), LINES, {}, [(2, 1)], ON)
    assert (quote.money_cents, quote.points) == (3_000, 0)


def test_the_tier_of_an_old_sale_is_found_from_its_net() -> None:
    rules = make_rules()
    sold = engine.quote_sale(rules, member("gold"), LINES, ON)
    assert tier_at_sale(rules, member("regular"), LINES, ON, sold.net_cents) == "gold"
    assert tier_at_sale(rules, member("silver"), LINES, ON, 1) == "silver"


def test_kept_lines_drop_what_is_fully_refunded() -> None:
    kept = kept_lines(LINES, {0: 1, 1: 1})
    assert [(k.unit_price_cents, k.quantity) for k in kept] == [(10_000, 1), (3_000, 1)]


RULE_SETS = [
    make_rules(),
    make_rules(campaigns=(SPEND_200_GET_20,)),
    make_rules(
        campaigns=(campaign("P10", CampaignKind.PERCENT_OFF, percent_bp=1_000, stackable=True),)
    ),
]


@given(
    rules_index=st.integers(0, len(RULE_SETS) - 1),
    tier=st.sampled_from(["regular", "silver", "gold"]),
    prices=st.lists(st.tuples(st.integers(1, 30_000), st.integers(1, 4)), min_size=1, max_size=5),
    steps=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 4)), max_size=8),
)
def test_refunds_in_any_steps_never_give_back_more_than_the_sale(
    rules_index: int, tier: str, prices: list[tuple[int, int]], steps: list[tuple[int, int]]
) -> None:
    rules, who = RULE_SETS[rules_index], member(tier)
    lines = [line(cents, quantity=q) for cents, q in prices]
    sold = engine.quote_sale(rules, who, lines, ON)
    refunded: dict[int, int] = {}
    money = points = 0
    for number, quantity in steps:
        try:
            quote = refund_quote(rules, who, lines, refunded, [(number, quantity)], ON)
        except RefundError:
            continue
        money, points = money + quote.money_cents, points + quote.points
        for n, q in quote.refunding.items():
            refunded[n] = refunded.get(n, 0) + q
    assert all(refunded.get(n, 0) <= ln.quantity for n, ln in enumerate(lines))
    try:
        rest = refund_quote(rules, who, lines, refunded, [], ON)
    except RefundError as exc:
        assert "already refunded" in str(exc)
    else:
        money, points = money + rest.money_cents, points + rest.points
    assert money == sold.net_cents
    assert points == sold.points
