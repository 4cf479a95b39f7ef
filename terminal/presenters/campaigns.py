"""A campaign as the counter names it: in words from what it gives, in the screen's
language ("每满¥200减¥20" / "Every ¥200 spent: ¥20 off", "新会员9折" / "New members: 10% off"),
never its code. The rule set carries no display name of its own, so the name is made
from the campaign's kind and figures, which are what a cashier needs to explain it."""

from __future__ import annotations

from tapcard.domain.rules import Campaign, CampaignKind, RuleSet
from tapcard.ui.i18n import Translator

BP_WHOLE = 10_000  # basis points of the whole price


def yuan(cents: int) -> str:
    """¥200 for whole yuan, ¥12.50 otherwise (a name stays short)."""
    whole, frac = divmod(cents, 100)
    return f"¥{whole:,}" if not frac else f"¥{whole:,}.{frac:02d}"


def discount(t: Translator, bp: int) -> str:
    """10 % off as English says it; as Chinese does, the tenths of the price paid
    (九折 is 9 tenths): 9折."""
    if t.lang.startswith("zh"):
        return f"{(BP_WHOLE - bp) / 1000:g}折"
    return f"{bp / 100:g}% off"


def campaign_name(t: Translator, campaign: Campaign) -> str:
    c, kind = campaign, campaign.kind
    if kind is CampaignKind.SPEND_GET_OFF:
        msgid = "Every {spend} spent: {off} off" if c.repeat else "Spend {spend}: {off} off"
        return t(msgid, spend=yuan(c.min_spend_cents), off=yuan(c.off_cents))
    if kind is CampaignKind.GIFT:
        return t("Spend {spend}: {gift} free", spend=yuan(c.min_spend_cents), gift=t(c.gift))
    if kind is CampaignKind.DOUBLE_POINTS:  # no discount: a factor on the points
        return t("{factor} times the points", factor=f"{c.factor_pct / 100:g}")
    off = discount(t, c.percent_bp)
    if kind is CampaignKind.NEW_MEMBER:
        return t("New members: {discount}", discount=off)
    if c.birthday_month:
        return t("Birthday month: {discount}", discount=off)
    if c.weekdays and set(c.weekdays) <= {6, 7}:
        return t("Weekend: {discount}", discount=off)
    return off


def campaign_label(t: Translator, rules: RuleSet | None, code: str) -> str:
    """The name of the campaign `code` in the rules; "Campaign" when it is unknown
    (the rules changed since the quote): the code itself never reaches the screen."""
    found = next((c for c in rules.campaigns if c.code == code), None) if rules else None
    return campaign_name(t, found) if found is not None else t("Campaign")
