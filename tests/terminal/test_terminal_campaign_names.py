"""Campaigns at the counter are named in words in the screen's language, never by code:
each kind of the sample rules, and a code the rules no longer hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.rulestore import parse_rules
from tapcard.ui.i18n import Translator
from terminal.presenters.campaigns import campaign_label, campaign_name, yuan

SAMPLE = Path(__file__).resolve().parents[2] / "tapcard" / "sample_rules.json"

NAMES = {
    "SPEND200-GET20": ("每满¥200减¥20", "Every ¥200 spent: ¥20 off"),
    "WEEKEND-5PCT": ("周末9.5折", "Weekend: 5% off"),
    "WELCOME-10PCT": ("新会员9折", "New members: 10% off"),
    "GIFT-TOTE-300": ("满¥300赠帆布手提袋", "Spend ¥300: canvas tote bag free"),
    "BIRTHDAY-MONTH-10PCT": ("生日月9折", "Birthday month: 10% off"),
}


@pytest.mark.parametrize("code", sorted(NAMES))
def test_each_campaign_of_the_sample_rules_has_a_name_in_both_languages(code: str) -> None:
    rules = parse_rules(SAMPLE.read_bytes())
    zh, en = NAMES[code]
    assert campaign_label(Translator("zh"), rules, code) == zh
    assert campaign_label(Translator("en"), rules, code) == en


def test_an_unknown_code_is_never_shown() -> None:
    rules = parse_rules(SAMPLE.read_bytes())
    assert campaign_label(Translator("zh"), rules, "GONE-50PCT") == "活动"
    assert campaign_label(Translator("en"), None, "GONE-50PCT") == "Campaign"


def test_a_points_factor_is_named_by_its_factor() -> None:
    from tapcard.domain.rules import Campaign, CampaignKind

    double = Campaign(code="DOUBLE-DEC", kind=CampaignKind.DOUBLE_POINTS, factor_pct=200)
    assert campaign_name(Translator("zh"), double) == "2倍积分"
    assert campaign_name(Translator("en"), double) == "2 times the points"


def test_amounts_in_whole_yuan_stay_short() -> None:
    assert (yuan(20_000), yuan(1_250), yuan(123_456_00)) == ("¥200", "¥12.50", "¥123,456")
