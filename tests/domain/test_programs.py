"""Card programs: a category card earns only on its categories, a co-branded card only
at its partners' branches; the rest of the sale is paid as usual and earns nothing.

Scenario: a 餐饮卡 (dining card, categories dining and bakery) is used on a basket of
dining and groceries: only the dining part earns. A co-branded card of a cinema earns
at the cinema's branch and nowhere else. A card whose program the rule set dropped
earns nothing rather than everything.
"""

from __future__ import annotations

import dataclasses

import pytest

from tapcard.domain.engine import quote_sale
from tapcard.domain.model import CardKind
from tapcard.domain.programs import CardProgram, validate_programs
from tapcard.domain.rules import Campaign, CampaignKind, validate_rules

from .helpers import D, line, make_rules, member

ON = D(2026, 6, 10)
DINING = CardProgram("dining", CardKind.CATEGORY, "餐饮卡", categories=("dining", "bakery"))
CINEMA = CardProgram("cinema", CardKind.COBRANDED, "影城联名卡", partners=("b-cinema",))
RULES = make_rules(card_programs=(DINING, CINEMA))


def test_category_card_earns_only_on_its_categories() -> None:
    lines = [line(3_000, "dining"), line(5_000, "grocery"), line(1_000, "bakery")]
    on_card = quote_sale(RULES, dataclasses.replace(member(), program="dining"), lines, ON)
    on_member = quote_sale(RULES, member(), lines, ON)
    assert on_member.points == 90
    assert on_card.points == 40  # dining and bakery only
    assert on_card.net_cents == on_member.net_cents == 9_000  # the price is the same
    assert on_card.earning_cents == 4_000
    assert on_card.excluded_cents == 5_000  # the groceries earn nothing on this card


def test_a_basket_outside_the_program_earns_nothing() -> None:
    card = dataclasses.replace(member(), program="dining")
    quote = quote_sale(RULES, card, [line(5_000, "grocery")], ON)
    assert (quote.points, quote.growth, quote.net_cents) == (0, 0, 5_000)


def test_campaign_discount_is_shared_and_rounded_against_the_card() -> None:
    off = Campaign(code="m100-10", kind=CampaignKind.SPEND_GET_OFF, min_spend_cents=10_000,
                   off_cents=1_001)  # fmt: skip
    rules = dataclasses.replace(RULES, campaigns=(off,))
    card = dataclasses.replace(member(), program="dining")
    quote = quote_sale(rules, card, [line(3_000, "dining"), line(7_000, "grocery")], ON)
    assert quote.net_cents == 10_000 - 1_001
    # 30 % of the 1001 off (300.3) is taken from the dining part as 301.
    assert quote.earning_cents == 3_000 - 301
    assert quote.net_cents == quote.earning_cents + quote.excluded_cents


def test_cobranded_card_earns_at_its_partners_branches_only() -> None:
    at_partner = dataclasses.replace(member(), program="cinema", branch="b-cinema")
    elsewhere = dataclasses.replace(at_partner, branch="b-mall")
    assert quote_sale(RULES, at_partner, [line(2_000, "tickets")], ON).points == 20
    assert quote_sale(RULES, elsewhere, [line(2_000, "tickets")], ON).points == 0


def test_program_can_earn_at_its_own_rate() -> None:
    rules = make_rules(card_programs=(dataclasses.replace(DINING, cents_per_point=50),))
    card = dataclasses.replace(member(), program="dining")
    assert quote_sale(rules, card, [line(3_000, "dining")], ON).points == 60


def test_a_program_the_rules_no_longer_have_earns_nothing() -> None:
    card = dataclasses.replace(member(), program="gone")
    quote = quote_sale(RULES, card, [line(3_000, "dining")], ON)
    assert (quote.points, quote.net_cents, quote.excluded_cents) == (0, 3_000, 3_000)


def test_excluded_categories_stay_excluded_on_a_category_card() -> None:
    rules = make_rules(card_programs=(CardProgram("deals", CardKind.CATEGORY,
                                                  categories=("group_buy",)),))  # fmt: skip
    card = dataclasses.replace(member(), program="deals")
    assert quote_sale(rules, card, [line(3_000, "group_buy")], ON).points == 0


@pytest.mark.parametrize(
    ("program", "error"),
    [
        (CardProgram("Bad Code", CardKind.CATEGORY, categories=("a",)), "the code is"),
        (CardProgram("m", CardKind.MEMBER, categories=("a",)), "kind is category or cobranded"),
        (CardProgram("e", CardKind.CATEGORY), "name the categories or partners"),
        (CardProgram("p", CardKind.CATEGORY, partners=("b1",)), "only a cobranded card"),
        (CardProgram("r", CardKind.CATEGORY, categories=("a",), cents_per_point=-1), ">= 0"),
        (CardProgram("x", CardKind.CATEGORY, categories=("",)), "none empty"),
    ],
)
def test_invalid_programs_are_refused(program: CardProgram, error: str) -> None:
    errors = validate_rules(make_rules(card_programs=(program,)))
    assert any(error in e for e in errors), errors


def test_program_codes_are_unique_and_sound_programs_pass() -> None:
    assert validate_programs((DINING, CINEMA)) == []
    assert validate_rules(RULES) == []
    assert "card program codes must be unique" in validate_programs((DINING, DINING))
