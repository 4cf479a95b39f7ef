"""What each notice says, in Chinese and English: a subject and a body per kind.

Fields are filled by name from the notice's data, which the planner writes already
formatted for people (money as ¥1,234.50, dates local), so a template never shows cents
or a raw code. A member's language is that of their contact (zh unless they chose en).
The same fields go to SMS and WeChat providers as the template's parameters.
"""

# Chinese text uses full-width punctuation, which is right in these strings.
# ruff: noqa: RUF001

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class NoticeKind(enum.StrEnum):
    RECEIPT = "receipt"  # each transaction: what it did, points and balance after
    POINTS_EXPIRING = "points_expiring"
    BIRTHDAY = "birthday"
    HOLIDAY = "holiday"
    CAMPAIGN = "campaign"  # an offer to a segment
    CARD_LOST = "card_lost"
    CARD_REPLACED = "card_replaced"
    LOW_BALANCE = "low_balance"
    TRANSFER_BOOKED = "transfer.booked"  # to the chain's systems, by webhook
    LOGIN_CODE = "login_code"  # the member page's one-time code: sent at once, never queued
    CLOSE_REQUEST = "close_request"  # HQ's answer to a request to close the account


MARKETING_KINDS: Final = frozenset({NoticeKind.BIRTHDAY, NoticeKind.HOLIDAY, NoticeKind.CAMPAIGN})
LANGS: Final = ("zh", "en")

# kind -> lang -> (subject, body)
TEMPLATES: Final[Mapping[NoticeKind, Mapping[str, tuple[str, str]]]] = {
    NoticeKind.RECEIPT: {
        "zh": (
            "消费提醒：{what}",
            "{name}您好，您的会员卡{card}于{when}{what}{amount}。"
            "本次积分{points}，当前积分{points_after}，储值余额{balance_after}。",
        ),
        "en": (
            "Your card: {what}",
            "Dear {name}, your card {card}: {what} {amount} at {when}. Points this time "
            "{points}; points now {points_after}; stored value now {balance_after}.",
        ),
    },
    NoticeKind.POINTS_EXPIRING: {
        "zh": ("积分即将到期", "{name}您好，您有{points}积分将于{expires_on}到期，请尽快使用。"),
        "en": (
            "Points expiring soon",
            "Dear {name}, {points} of your points expire on {expires_on}. Use them before then.",
        ),
    },
    NoticeKind.BIRTHDAY: {
        "zh": ("生日快乐", "{name}您好，祝您生日快乐！本月到店消费可享会员生日礼遇。"),
        "en": (
            "Happy birthday",
            "Dear {name}, happy birthday! Your member birthday treat waits this month.",
        ),
    },
    NoticeKind.HOLIDAY: {
        "zh": ("{holiday}快乐", "{name}您好，祝您{holiday}快乐！"),
        "en": ("Happy {holiday}", "Dear {name}, wishing you a happy {holiday}!"),
    },
    NoticeKind.CAMPAIGN: {
        "zh": ("会员专享：{title}", "{name}您好，{text}"),
        "en": ("For members: {title}", "Dear {name}, {text}"),
    },
    NoticeKind.CARD_LOST: {
        "zh": (
            "会员卡已挂失",
            "{name}您好，您的会员卡{card}已于{when}挂失，卡内余额和积分已冻结保护。",
        ),
        "en": (
            "Card reported lost",
            "Dear {name}, your card {card} was reported lost at {when}; its balance and "
            "points are held safe.",
        ),
    },
    NoticeKind.CARD_REPLACED: {
        "zh": ("会员卡已补办", "{name}您好，您的会员卡已于{when}补办为新卡{card}，原卡已停用。"),
        "en": (
            "Card replaced",
            "Dear {name}, your card was replaced by {card} at {when}; the old card no "
            "longer works.",
        ),
    },
    NoticeKind.LOW_BALANCE: {
        "zh": (
            "储值余额不足",
            "{name}您好，您的会员卡{card}储值余额为{balance_after}，请及时充值。",
        ),
        "en": (
            "Low stored value",
            "Dear {name}, the stored value on your card {card} is down to {balance_after}.",
        ),
    },
    NoticeKind.LOGIN_CODE: {
        "zh": (
            "会员登录验证码",
            "您的会员中心登录验证码为{code}，{minutes}分钟内有效，请勿告诉他人。",
        ),
        "en": (
            "Your member login code",
            "Your member page login code is {code}. It is good for {minutes} minutes; "
            "tell it to nobody.",
        ),
    },
    # No name: when the account is closed the person has none left (hub/portal_close.py).
    NoticeKind.CLOSE_REQUEST: {
        "zh": ("会员账户注销申请", "您好，您的会员账户注销申请{outcome}{answer}"),
        "en": (
            "Your request to close your account",
            "Your request to close your member account {outcome}{answer}",
        ),
    },
    NoticeKind.TRANSFER_BOOKED: {
        "zh": ("交易入账", "{tx_id}"),
        "en": ("Transfer booked", "{tx_id}"),
    },
}

# What a receipt says the transaction did (its `what` field), by ledger kind.
RECEIPT_WHAT: Final[Mapping[str, Mapping[str, str]]] = {
    "purchase": {"zh": "消费", "en": "purchase"},
    "topup": {"zh": "充值", "en": "top-up"},
    "spend": {"zh": "储值消费", "en": "paid from stored value"},
    "redeem": {"zh": "积分兑换", "en": "points redeemed"},
    "refund": {"zh": "退款", "en": "refund"},
    "renewal": {"zh": "续费", "en": "renewal"},
    "backfill": {"zh": "补录消费", "en": "backfilled purchase"},
}


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""  # a field the data lacks shows as nothing, never as {key}


def render(kind: NoticeKind, lang: str, data: Mapping[str, str]) -> tuple[str, str]:
    """(subject, body) of a notice in `lang` (zh if it has no such language)."""
    subject, body = TEMPLATES[kind].get(lang) or TEMPLATES[kind]["zh"]
    fields = _Fields(data)
    suffix = f"_{lang}"
    for key, value in data.items():  # `what_en` fills `{what}` in an English notice
        if key.endswith(suffix):
            fields[key.removesuffix(suffix)] = value
    return subject.format_map(fields), body.format_map(fields)
