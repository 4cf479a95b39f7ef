"""A segment's rules (hub.segments.SegmentRules) in words for the dashboard, one line per
rule in the page's language, money in ¥: what HQ reads instead of the JSON it typed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from hub.segments import SegmentRules
from hub.web.i18n import money

Translate = Callable[..., str]
CHANNELS: Final = {"email": "e-mail", "sms": "SMS", "wechat": "WeChat"}
# msgids, kept here so that tests/web can check each has its zh entry.
MSGIDS: Final = (
    "Every active member",
    "Tagged any of: {tags}",
    "Tagged all of: {tags}",
    "Tier one of: {tiers}",
    "Home branch one of: {branches}",
    "Spent at least {amount} in the last {days} days",
    "Spent at most {amount} in the last {days} days",
    "At least {n} visits in the last {days} days",
    "At most {n} visits in the last {days} days",
    "Visited in the last {days} days",
    "No visit in the last {days} days",
    "Birthday in month {month}",
    "At least {years} years old",
    "At most {years} years old",
    "Holds an active card of kind: {kinds}",
    "Agreed to marketing by {channel}",
    "{letter} score between {low} and {high} (1-5, over the last {days} days)",
    "Recency",
    "Frequency",
    "Monetary",
    *CHANNELS.values(),
)


def _joined(values: list[str]) -> str:
    return ", ".join(values)


def _rfm(rules: SegmentRules, _: Translate) -> list[str]:
    out = []
    for letter, word in (("r", "Recency"), ("f", "Frequency"), ("m", "Monetary")):
        low, high = getattr(rules, f"{letter}_min"), getattr(rules, f"{letter}_max")
        if low is None and high is None:
            continue
        out.append(
            _(
                "{letter} score between {low} and {high} (1-5, over the last {days} days)",
                letter=_(word),
                low=low or 1,
                high=high or 5,
                days=rules.window_days,
            )
        )
    return out


def _spend_and_visits(rules: SegmentRules, _: Translate) -> list[str]:
    days = rules.window_days
    out = []
    if rules.spend_min_cents is not None:
        amount = money(rules.spend_min_cents)
        out.append(_("Spent at least {amount} in the last {days} days", amount=amount, days=days))
    if rules.spend_max_cents is not None:
        amount = money(rules.spend_max_cents)
        out.append(_("Spent at most {amount} in the last {days} days", amount=amount, days=days))
    if rules.visits_min is not None:
        out.append(_("At least {n} visits in the last {days} days", n=rules.visits_min, days=days))
    if rules.visits_max is not None:
        out.append(_("At most {n} visits in the last {days} days", n=rules.visits_max, days=days))
    if rules.visited_within_days is not None:
        out.append(_("Visited in the last {days} days", days=rules.visited_within_days))
    if rules.lapsed_days is not None:
        out.append(_("No visit in the last {days} days", days=rules.lapsed_days))
    return out


def _person(rules: SegmentRules, _: Translate) -> list[str]:
    out = []
    if rules.birthday_month is not None:
        out.append(_("Birthday in month {month}", month=rules.birthday_month))
    if rules.age_min_years is not None:
        out.append(_("At least {years} years old", years=rules.age_min_years))
    if rules.age_max_years is not None:
        out.append(_("At most {years} years old", years=rules.age_max_years))
    if rules.card_kinds:
        kinds = _joined([_(kind) for kind in rules.card_kinds])
        out.append(_("Holds an active card of kind: {kinds}", kinds=kinds))
    if rules.consent_channel is not None:
        channel = _(CHANNELS.get(rules.consent_channel, rules.consent_channel))
        out.append(_("Agreed to marketing by {channel}", channel=channel))
    return out


def rule_lines(rules: SegmentRules, _: Translate) -> list[str]:
    """Each rule that is set, in words; all of them must hold."""
    out = []
    if rules.tags_any:
        out.append(_("Tagged any of: {tags}", tags=_joined(rules.tags_any)))
    if rules.tags_all:
        out.append(_("Tagged all of: {tags}", tags=_joined(rules.tags_all)))
    if rules.tiers:
        out.append(_("Tier one of: {tiers}", tiers=_joined(rules.tiers)))
    if rules.branches:
        out.append(_("Home branch one of: {branches}", branches=_joined(rules.branches)))
    out += _spend_and_visits(rules, _) + _person(rules, _) + _rfm(rules, _)
    return out or [_("Every active member")]


# What hub.segments says about wrong rules, as (pattern, msgid): the common mistakes get
# one line in the page's language; anything else shows as the hub said it (English).
ERRORS: Final = (
    (
        re.compile(r"^segment rules are not JSON"),
        "The rules are not JSON: check the brackets and quotes.",
    ),
    (
        re.compile(r"^segment rules: Object contains unknown field `(?P<name>[^`]+)`"),
        "There is no rule called {name}.",
    ),
    (
        re.compile(
            r"^segment rules: Expected `(?P<kind>\w+)`, got `\w+` - at `\$\.(?P<name>[^`]+)`"
        ),
        "The rule {name} takes a {kind}.",
    ),
    (re.compile(r"^segment rules: Expected `object`"), "The rules are one JSON object: {…}."),
    (
        re.compile(r"^a segment code is"),
        "A segment code is 1-48 of a-z, 0-9, _ and -, first a letter or digit.",
    ),
    (re.compile(r"^give the segment a name"), "Give the segment a name of 1-200 characters."),
    (re.compile(r"^segment '(?P<code>.+)' exists already"), "Segment {code} exists already."),
    (re.compile(r"^(?P<name>[a-z_]+( score)?) must be"), "The rule {name} is out of its range."),
)
KINDS: Final = {"array": "list [ ]", "int": "whole number", "str": "text", "object": "object { }"}


def error_line(text: str, _: Translate) -> tuple[str, dict[str, str]]:
    """The msgid and values of a wrong-rules message (a kind of value in the page's
    language), or the message as it is."""
    for pattern, msgid in ERRORS:
        found = pattern.match(text)
        if found:
            values = {k: v for k, v in found.groupdict().items() if v is not None}
            if "kind" in values:
                values["kind"] = _(KINDS.get(values["kind"], values["kind"]))
            return msgid, {k: values[k] for k in ("name", "kind", "code") if k in values}
    return text, {}
