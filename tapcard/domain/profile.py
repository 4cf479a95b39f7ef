"""A member's profile fields as every surface checks them, and the one spelling of a
phone number that the hub compares: `+86 138-0000-0001`, `0086 13800000001` and
`13800000001` are the same phone, so they are the same member."""

from __future__ import annotations

import datetime as dt
from typing import Final

NAME_CHARS_MAX: Final = 200
ADDRESS_CHARS_MAX: Final = 500
PHONE_DIGITS_MIN: Final = 5
PHONE_DIGITS_MAX: Final = 20
ID_NUMBER_CHARS_MIN: Final = 6
ID_NUMBER_CHARS_MAX: Final = 32
CHINA_PREFIXES: Final = ("+86", "0086")
CHINA_MOBILE_DIGITS: Final = 11
_SEPARATORS: Final = str.maketrans("", "", " -().\u00a0\t")


def phone_key(phone: str) -> str:
    """Digits only, the Chinese country code dropped (`+86`, `0086`, or `86` before an
    11-digit mobile number); other international numbers keep a leading `+`."""
    text = phone.strip().translate(_SEPARATORS)
    for prefix in CHINA_PREFIXES:
        if text.startswith(prefix):
            return text.removeprefix(prefix)
    if text.startswith("00"):
        return "+" + text[2:]
    if text.startswith("86") and len(text) == 2 + CHINA_MOBILE_DIGITS and text[2] == "1":
        return text[2:]
    return text


def phone_error(phone: str) -> str:
    digits = phone_key(phone).removeprefix("+")
    if digits.isdigit() and PHONE_DIGITS_MIN <= len(digits) <= PHONE_DIGITS_MAX:
        return ""
    return "phone must be 5-20 digits"


def name_error(name: str) -> str:
    ok = 1 <= len(name.strip()) <= NAME_CHARS_MAX
    return "" if ok else "name is required (at most 200 characters)"


def id_number_error(id_number: str) -> str:
    text = id_number.strip()
    ok = not text or ID_NUMBER_CHARS_MIN <= len(text) <= ID_NUMBER_CHARS_MAX
    return "" if ok else "ID number must be 6-32 characters"


def address_error(address: str) -> str:
    return "" if len(address) <= ADDRESS_CHARS_MAX else "address is at most 500 characters"


def birthday_error(birthday: dt.date | None, today: dt.date) -> str:
    return "" if birthday is None or birthday <= today else "birthday is in the future"


def parse_birthday(text: str) -> dt.date | None:
    """YYYY-MM-DD, or empty for none; ValueError otherwise."""
    text = text.strip()
    return dt.date.fromisoformat(text) if text else None
