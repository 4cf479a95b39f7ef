"""Windows of campaigns and multipliers: recurring, open-ended, and the old flat dates.

Scenario: the demo chain's rules must run on any day of any year: double points every
December, 5 % off every weekend, a gift every March, a birthday-month discount, spend-
and-save and a welcome discount that never end. On a plain weekday outside March and
December they price every sale exactly as the 2026 rules did on a weekday in November
(the figures many hub tests expect). Rule documents written before windows recurred
(flat `starts_on`/`ends_on`, today's hubs and devices hold them) decode and mean what
they meant. Dates range over 1990..2100, leap days and year boundaries included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapcard.domain.engine import MemberContext, SaleLine, points_factor_pct, quote_sale
from tapcard.domain.rules import Campaign, CampaignKind, Multiplier, RuleSet, validate_rules
from tapcard.domain.window import Window, window_words
from tapcard.samples import load_sample_rules
from tapcard.wire import messages as m

from .helpers import D, line, member

FLAT_2026 = Path(__file__).parent / "data" / "rules_flat_2026.json"  # the 2026 sample
NOVEMBER_WEDNESDAY = D(2026, 11, 11)  # the old sample: SPEND200 and WELCOME, no multiplier
SAMPLE = load_sample_rules()

any_day = st.dates(D(1990, 1, 1), D(2100, 12, 31))
birthdays = st.none() | st.dates(D(1940, 1, 1), D(2010, 12, 31))
members = st.builds(
    MemberContext,
    tier=st.sampled_from(["regular", "silver", "gold", "platinum"]),
    joined_on=st.dates(D(1985, 1, 1), D(2100, 12, 31)),
    birthday=birthdays,
)
sale_lines = st.lists(
    st.builds(
        SaleLine,
        category=st.sampled_from(["grocery", "fuel", "auto", "group_buy"]),
        unit_price_cents=st.integers(0, 80_000),
        quantity=st.integers(1, 3),
        sku=st.sampled_from(["", "SKU-MOTOR-OIL-4L", "SKU-COFFEE-BEANS-500G"]),
    ),
    min_size=1,
    max_size=6,
)
PROPERTIES = settings(max_examples=300, deadline=None)


def flat_rules() -> RuleSet:
    return msgspec.json.decode(FLAT_2026.read_bytes(), type=RuleSet)


def campaign(code: str) -> Campaign:
    [found] = [c for c in SAMPLE.campaigns if c.code == code]
    return found


# --- the sample rules on any day ----------------------------------------------------


@PROPERTIES
@given(on=any_day, who=members)
def test_sample_windows_hold_on_the_intended_days(on: dt.date, who: MemberContext) -> None:
    [december] = SAMPLE.multipliers
    assert december.contains(on, who) is (on.month == 12)
    assert campaign("WEEKEND-5PCT").contains(on, who) is (on.isoweekday() in (6, 7))
    assert campaign("GIFT-TOTE-300").contains(on, who) is (on.month == 3)
    assert campaign("SPEND200-GET20").contains(on, who)
    assert campaign("WELCOME-10PCT").contains(on, who)  # new_member_days decides
    in_birthday_month = who.birthday is not None and who.birthday.month == on.month
    assert campaign("BIRTHDAY-MONTH-10PCT").contains(on, who) is in_birthday_month


@PROPERTIES
@given(on=any_day, who=members, lines=sale_lines)
def test_plain_weekdays_price_as_the_2026_rules_did_in_november(
    on: dt.date, who: MemberContext, lines: list[SaleLine]
) -> None:
    """Outside March and December, Monday to Friday, for members without a birthday:
    the same quote as the old document on a November weekday, the member having joined
    as long before."""
    if on.month in (3, 12) or on.isoweekday() > 5:
        on = _plain_weekday_near(on)
    who = dataclasses.replace(who, birthday=None)
    then = dataclasses.replace(who, joined_on=who.joined_on + (NOVEMBER_WEDNESDAY - on))
    assert quote_sale(SAMPLE, who, lines, on) == quote_sale(
        flat_rules(), then, lines, NOVEMBER_WEDNESDAY
    )


def _plain_weekday_near(day: dt.date) -> dt.date:
    while day.month in (3, 12) or day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    return day


@pytest.mark.parametrize(
    ("on", "codes", "factor_pct"),
    [
        (D(2026, 6, 10), ("SPEND200-GET20",), 100),  # the tests' pinned Wednesday
        (D(2026, 12, 31), ("SPEND200-GET20",), 200),  # last day of December (a Thursday)
        (D(2027, 1, 1), ("SPEND200-GET20",), 100),  # a Friday: nothing of December is left
        (D(2027, 1, 2), ("WEEKEND-5PCT", "SPEND200-GET20"), 100),
        (D(2028, 2, 29), ("SPEND200-GET20",), 100),  # a leap day, a Tuesday
        (D(2031, 3, 15), ("WEEKEND-5PCT", "GIFT-TOTE-300", "SPEND200-GET20"), 100),
        (D(2099, 12, 5), ("WEEKEND-5PCT", "SPEND200-GET20"), 200),
        (D(1999, 12, 31), ("SPEND200-GET20",), 200),
    ],
)
def test_sample_rules_on_given_days_across_years(
    on: dt.date, codes: tuple[str, ...], factor_pct: int
) -> None:
    quote = quote_sale(SAMPLE, member(joined_on=D(1980, 1, 1)), [line(40_000)], on)
    assert quote.campaigns == codes
    assert quote.factor_pct == factor_pct
    assert quote.gifts == (("canvas tote bag",) if "GIFT-TOTE-300" in codes else ())


def test_the_birthday_month_discount_for_a_29_february_birthday() -> None:
    """Like the birthday bonus (engine.is_birthday): February is the month, leap or not."""
    leapling = member(joined_on=D(1980, 1, 1), birthday=D(2000, 2, 29))
    for on in (D(2029, 2, 1), D(2029, 2, 28), D(2028, 2, 29)):  # weekdays
        quote = quote_sale(SAMPLE, leapling, [line(10_000)], on)
        assert quote.campaigns == ("BIRTHDAY-MONTH-10PCT",), on
        assert quote.campaign_discount_cents == 1_000
    assert quote_sale(SAMPLE, leapling, [line(10_000)], D(2029, 3, 1)).campaigns == ()
    # On 28 February of a common year the birthday bonus doubles the points as well.
    assert points_factor_pct(SAMPLE, leapling, D(2029, 2, 28)) == 200
    assert points_factor_pct(SAMPLE, leapling, D(2029, 2, 27)) == 100


# --- windows as values ----------------------------------------------------------------


def test_first_days_after_joining_count_like_new_member_days() -> None:
    window = Window(joined_within_days=30)
    joined = D(2027, 12, 20)
    assert window.contains(joined, member(joined_on=joined))
    assert window.contains(D(2028, 1, 19), member(joined_on=joined))  # day 30
    assert not window.contains(D(2028, 1, 20), member(joined_on=joined))  # day 31
    assert not window.contains(D(2027, 12, 19), member(joined_on=joined))  # before joining


def test_bounds_may_be_open_on_either_side() -> None:
    who = member()
    from_june = Window(starts_on=D(2026, 6, 1))
    until_june = Window(ends_on=D(2026, 6, 30))
    assert not from_june.contains(D(2026, 5, 31), who) and from_june.contains(D(2100, 1, 1), who)
    assert until_june.contains(D(1990, 1, 1), who) and not until_june.contains(D(2026, 7, 1), who)
    june_weekends = Window(starts_on=D(2026, 6, 1), ends_on=D(2026, 6, 30), weekdays=(6, 7))
    days = [D(2026, 6, 1) + dt.timedelta(days=i) for i in range(40)]
    assert [d.day for d in days if june_weekends.contains(d, who)] == [6, 7, 13, 14, 20, 21, 27, 28]


@PROPERTIES
@given(first=any_day, span_days=st.integers(0, 400), on=any_day, who=members)
def test_flat_dates_mean_what_they_meant(
    first: dt.date, span_days: int, on: dt.date, who: MemberContext
) -> None:
    last = first + dt.timedelta(days=span_days)
    window = Window(starts_on=first, ends_on=last)
    assert window.contains(on, who) is (first <= on <= last)
    near = first + dt.timedelta(days=span_days // 2)  # and for days inside, too
    assert window.contains(near, who)


@pytest.mark.parametrize(
    ("window", "zh", "en"),
    [
        (Window(months=(12,)), "每年12月", "every December"),
        (Window(months=(12, 3)), "每年3月、12月", "every March and December"),
        (Window(weekdays=(7, 6)), "周末", "weekends"),
        (Window(weekdays=(1, 2, 3, 4, 5)), "工作日", "weekdays"),
        (Window(weekdays=(1, 3, 5)), "每周一、三、五", "every Monday, Wednesday and Friday"),
        (Window(birthday_month=True), "会员生日月", "in the member's birthday month"),
        (Window(joined_within_days=30), "入会30天内", "within 30 days of joining"),
        (Window(), "长期有效", "always"),
        (Window(starts_on=D(2026, 6, 1)), "2026-06-01起", "from 2026-06-01"),
        (Window(ends_on=D(2026, 6, 30)), "截至2026-06-30", "until 2026-06-30"),
        (
            Window(starts_on=D(2026, 6, 1), ends_on=D(2026, 6, 30), weekdays=(6, 7)),
            "周末\uff0c2026-06-01至2026-06-30",
            "weekends, 2026-06-01 to 2026-06-30",
        ),
    ],
)
def test_windows_in_words(window: Window, zh: str, en: str) -> None:
    assert window_words(window) == (zh, en)


# --- documents written before windows recurred --------------------------------------


def test_the_flat_2026_document_decodes_and_keeps_its_meaning() -> None:
    rules = flat_rules()
    assert validate_rules(rules) == []
    windows: list[Window] = [*rules.multipliers, *rules.campaigns]
    for window in windows:
        assert window.starts_on is not None and window.ends_on is not None
        assert (window.months, window.weekdays) == ((), ())
        assert (window.birthday_month, window.joined_within_days) == (False, None)
    gold = MemberContext("gold", joined_on=D(2024, 5, 1))
    lines = [SaleLine("auto", 29_800, sku="SKU-MOTOR-OIL-4L"), SaleLine("grocery", 2_000)]
    quote = quote_sale(rules, gold, lines, D(2026, 12, 5))  # its figures, as tested in 2026
    assert (quote.campaign_discount_cents, quote.base_points, quote.points) == (2_000, 247, 494)
    assert quote_sale(rules, gold, lines, D(2027, 1, 1)).campaigns == ()  # it ended
    weekend = quote_sale(rules, gold, lines, D(2026, 6, 13))
    assert weekend.campaigns == ("WEEKEND-5PCT-0613", "SPEND200-GET20")
    assert quote_sale(rules, gold, lines, D(2026, 6, 20)).campaigns == ("SPEND200-GET20",)


def test_a_flat_document_decodes_inside_the_wire_rules_message() -> None:
    body = b'{"v":1,"version":1,"published_ms":1781179200000,"rules":%s}' % (FLAT_2026.read_bytes())
    doc = msgspec.json.decode(body, type=m.RulesDoc)
    assert doc.rules == flat_rules()
    again = msgspec.json.decode(msgspec.json.encode(doc.rules), type=RuleSet)
    assert again == doc.rules  # the new fields round-trip at their defaults


def test_a_multiplier_can_recur_as_a_campaign_does() -> None:
    weekends = Multiplier(name="weekend triple", factor_pct=300, weekdays=(6, 7))
    rules = dataclasses.replace(SAMPLE, multipliers=(weekends,))
    assert points_factor_pct(rules, member(), D(2040, 7, 7)) == 300  # a Saturday
    assert points_factor_pct(rules, member(), D(2040, 7, 9)) == 100
    new_member_days = Campaign(
        code="NEW-90",
        kind=CampaignKind.PERCENT_OFF,
        percent_bp=500,
        joined_within_days=90,
        stackable=True,
    )
    rules = dataclasses.replace(SAMPLE, campaigns=(new_member_days,))
    joined = D(2040, 7, 1)
    newcomer = member(joined_on=joined)
    assert quote_sale(rules, newcomer, [line(10_000)], D(2040, 9, 29)).campaigns == ("NEW-90",)
    assert quote_sale(rules, newcomer, [line(10_000)], D(2040, 9, 30)).campaigns == ()  # day 91
