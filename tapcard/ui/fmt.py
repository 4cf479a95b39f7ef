"""Numbers and dates as the screens show them (integers in, text out; no floats)."""

from __future__ import annotations

import datetime as dt
from typing import Final

CURRENCY_SIGN: Final = {"CNY": "¥", "EUR": "€", "USD": "$"}
RENEWAL_REMINDER_DAYS: Final = 60  # the member screen reminds this long before expiry


def money(cents: int, currency: str = "CNY") -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{CURRENCY_SIGN.get(currency, currency + ' ')}{whole:,}.{frac:02d}"


def parse_money(text: str) -> int | None:
    """Cents from "12", "12.5" or "12.50"; None when it is not an amount."""
    text = text.strip().replace(",", "").lstrip("¥€$")
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
        return None
    if len(whole) > 9:
        return None
    return int(whole) * 100 + int((frac + "00")[:2])


def points(value: int) -> str:
    return f"{value:,}"


def clock(unix_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(unix_ms / 1000)
    return moment.strftime("%Y-%m-%d %H:%M")


# Our own names, not the machine locale's (a kiosk's C locale would give the same, a
# Chinese one would not).
_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun")
_MONTHS_EN_LATE: Final = ("Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date(day: dt.date, lang: str) -> str:
    """A day as people of the language write it: 2029年2月28日, 28 Feb 2029."""
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {(_MONTHS_EN + _MONTHS_EN_LATE)[day.month - 1]} {day.year}"


def days_left(expires_on: dt.date | None, today: dt.date) -> int | None:
    return None if expires_on is None else (expires_on - today).days
