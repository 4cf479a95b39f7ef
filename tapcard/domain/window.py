"""When a campaign or a points multiplier applies: its window, as data.

A window is a run of days (`starts_on`..`ends_on`, inclusive; either end may be open)
narrowed by recurring conditions that must all hold on the day of the sale: months of
the year, ISO weekdays, the member's birthday month, the first days after joining. So
"every December" or "weekends" never goes stale the way fixed dates do.

Rule documents written before recurring windows had only the two dates (both
required); they decode to windows without recurring conditions and mean what they
meant. Campaigns and multipliers inherit `Window`, so its fields sit flat in their
JSON objects, as the two dates always did.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Final, Protocol

WINDOW_MONTHS_MAX: Final = 12  # each month of the year at most once
WINDOW_WEEKDAYS_MAX: Final = 7
WINDOW_JOINED_WITHIN_DAYS_MAX: Final = 3_660  # ten years; longer is not "new" any more
# Any run of this many days holds a whole calendar year, so every month and weekday
# pair: searching it tells whether a bounded window can match any day at all.
_MATCH_SEARCH_DAYS: Final = 2 * 366
_ZH_COMMA: Final = "\uff0c"  # the full-width comma between clauses of Chinese text
_WEEKEND: Final = frozenset({6, 7})
_WORKDAYS: Final = frozenset({1, 2, 3, 4, 5})
_MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS_EN: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_WEEKDAYS_ZH: Final = ("一", "二", "三", "四", "五", "六", "日")


class MemberDates(Protocol):
    """What a window needs to know about the member (engine.MemberContext has it)."""

    @property
    def joined_on(self) -> dt.date: ...

    @property
    def birthday(self) -> dt.date | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The days on which a campaign or multiplier applies: every condition set holds."""

    starts_on: dt.date | None = None  # first day, inclusive; None: open
    ends_on: dt.date | None = None  # last day, inclusive; None: open
    months: tuple[int, ...] = ()  # 1..12; empty: any month
    weekdays: tuple[int, ...] = ()  # ISO, 1 Monday .. 7 Sunday; empty: any day of the week
    birthday_month: bool = False  # only in the member's birthday month (never without one)
    joined_within_days: int | None = None  # only this many days after joining (day 0 is the day)

    def contains(self, on: dt.date, member: MemberDates) -> bool:
        """Whether the window holds on `on`, the day of the sale, for this member."""
        if not self.contains_day(on):
            return False
        if self.birthday_month and (
            member.birthday is None or not is_birthday(member.birthday, on, whole_month=True)
        ):
            return False
        days = self.joined_within_days
        return days is None or joined_within(member.joined_on, on, days)

    def contains_day(self, on: dt.date) -> bool:
        """The conditions on the day alone (the bounds, months and weekdays)."""
        if self.starts_on is not None and on < self.starts_on:
            return False
        if self.ends_on is not None and on > self.ends_on:
            return False
        if self.months and on.month not in self.months:
            return False
        return not self.weekdays or on.isoweekday() in self.weekdays


def is_birthday(birthday: dt.date, on: dt.date, *, whole_month: bool) -> bool:
    """The birthday itself (or its whole month). A 29 February birthday falls on
    28 February in common years, so those members get their bonus every year."""
    if birthday.month != on.month:
        return False
    if whole_month:
        return True
    return min(birthday.day, calendar.monthrange(on.year, on.month)[1]) == on.day


def joined_within(joined_on: dt.date, on: dt.date, days: int) -> bool:
    """Joined at most `days` days before `on` (a sale dated before joining is not)."""
    return 0 <= (on - joined_on).days <= days


def validate_window(window: Window, label: str) -> list[str]:
    """Every reason this window is unsound, each starting with `label`."""
    errors: list[str] = []
    first, last = window.starts_on, window.ends_on
    if first is not None and last is not None and last < first:
        errors.append(f"{label}: ends before it starts")
    errors += _validate_set(window.months, "months", 12, WINDOW_MONTHS_MAX, label)
    errors += _validate_set(window.weekdays, "weekdays", 7, WINDOW_WEEKDAYS_MAX, label)
    days = window.joined_within_days
    if days is not None and not 0 <= days <= WINDOW_JOINED_WITHIN_DAYS_MAX:
        errors.append(
            f"{label}: joined_within_days must be within 0..{WINDOW_JOINED_WITHIN_DAYS_MAX}"
        )
    if not errors and not _matches_some_day(window):
        errors.append(f"{label}: its window matches no day (months and weekdays within dates)")
    return errors


def _validate_set(
    values: tuple[int, ...], name: str, highest: int, count_max: int, label: str
) -> list[str]:
    if len(values) > count_max:
        return [f"{label}: at most {count_max} {name}"]
    errors = []
    if any(not 1 <= v <= highest for v in values):
        errors.append(f"{label}: {name} must be within 1..{highest}")
    if len(set(values)) != len(values):
        errors.append(f"{label}: {name} must not repeat")
    return errors


def _matches_some_day(window: Window) -> bool:
    if window.starts_on is None or window.ends_on is None:
        return True  # an open run meets every month and weekday again and again
    span_days = min((window.ends_on - window.starts_on).days, _MATCH_SEARCH_DAYS)
    first = window.starts_on
    return any(window.contains_day(first + dt.timedelta(days=i)) for i in range(span_days + 1))


def window_words(window: Window) -> tuple[str, str]:
    """The window in Chinese and in English, e.g. ("每年12月", "every December")."""
    parts: list[tuple[str, str]] = []
    if window.months:
        months = sorted(window.months)
        parts.append(
            (
                "每年" + "、".join(f"{m}月" for m in months),
                "every " + _and([_MONTHS_EN[m - 1] for m in months]),
            )
        )
    if window.weekdays:
        parts.append(_weekday_words(window.weekdays))
    if window.birthday_month:
        parts.append(("会员生日月", "in the member's birthday month"))
    if window.joined_within_days is not None:
        days = window.joined_within_days
        parts.append((f"入会{days}天内", f"within {days} days of joining"))
    parts += _bound_words(window.starts_on, window.ends_on)
    if not parts:
        return ("长期有效", "always")
    return _ZH_COMMA.join(zh for zh, _ in parts), ", ".join(en for _, en in parts)


def _weekday_words(weekdays: tuple[int, ...]) -> tuple[str, str]:
    chosen = frozenset(weekdays)
    if chosen == _WEEKEND:
        return ("周末", "weekends")
    if chosen == _WORKDAYS:
        return ("工作日", "weekdays")
    days = sorted(chosen)
    return (
        "每周" + "、".join(_WEEKDAYS_ZH[d - 1] for d in days),
        "every " + _and([_WEEKDAYS_EN[d - 1] for d in days]),
    )


def _bound_words(starts_on: dt.date | None, ends_on: dt.date | None) -> list[tuple[str, str]]:
    if starts_on is not None and ends_on is not None:
        return [(f"{starts_on}至{ends_on}", f"{starts_on} to {ends_on}")]
    if starts_on is not None:
        return [(f"{starts_on}起", f"from {starts_on}")]
    if ends_on is not None:
        return [(f"截至{ends_on}", f"until {ends_on}")]
    return []


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
