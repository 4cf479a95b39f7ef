"""One round of notices: plan what happened since the last round, then deliver.

`tapcard hub notice run` calls it (every minute from tapcard-notices.timer); the round
is safe to repeat or to run beside another (keys make planning idempotent, claims make
delivery exclusive). Channels come from the hub's environment (/etc/tapcard/hub.env):
a channel that is not configured is not used, and its notices wait, pending.

    TAPCARD_NOTICE_SMTP=mail.example.com:587   TAPCARD_NOTICE_SMTP_FROM=会员中心 <vip@example.com>
    TAPCARD_NOTICE_SMTP_SECURITY=starttls      TAPCARD_NOTICE_SMTP_USER / _PASSWORD
    TAPCARD_NOTICE_SMS_URL=https://sms.example.com/send   TAPCARD_NOTICE_SMS_KEY=...
    TAPCARD_NOTICE_SMS_TEMPLATES={"receipt": "SMS_1001", ...}   TAPCARD_NOTICE_SMS_SIGN=某某连锁
    TAPCARD_NOTICE_WECHAT_API=https://api.weixin.qq.com   TAPCARD_NOTICE_WECHAT_TOKEN=...
    TAPCARD_NOTICE_WECHAT_TEMPLATES={"receipt": "tmpl-id", ...}
    TAPCARD_NOTICE_WEBHOOK_URL=https://erp.example.com/tapcard   TAPCARD_NOTICE_WEBHOOK_SECRET=...
    TAPCARD_NOTICE_RATES={"sms": 100, "email": 600}   (per minute)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hub.admin.settings import get_setting, set_setting
from hub.app import Hub
from hub.notices import outbox, planner
from hub.notices.channels import (
    Channel,
    ChannelName,
    SmsChannel,
    SmtpChannel,
    SmtpRelay,
    WebhookChannel,
    WeChatChannel,
)
from tapcard.domain.authority import business_date
from tapcard.errors import ValidationError

PAGES_PER_ROUND_MAX: Final = 50  # transfers planned per round: 50 pages of 2,000
DAILY_DONE_KEY: Final = "notices.daily_done"  # the business day last planned


def _templates(env: Mapping[str, str], name: str) -> dict[str, str]:
    text = env.get(name, "")
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        raise ValidationError(f'{name} is not JSON: {{"receipt": "TEMPLATE_ID"}}') from None
    if not isinstance(found, dict):
        raise ValidationError(f"{name} maps each notice kind to a template id")
    return {str(k): str(v) for k, v in found.items()}


def _smtp(env: Mapping[str, str]) -> SmtpChannel | None:
    where = env.get("TAPCARD_NOTICE_SMTP", "")
    if not where:
        return None
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ValidationError("TAPCARD_NOTICE_SMTP is host:port")
    try:
        relay = SmtpRelay(
            host,
            int(port),
            security=env.get("TAPCARD_NOTICE_SMTP_SECURITY", "none"),
            user=env.get("TAPCARD_NOTICE_SMTP_USER", ""),
            password=env.get("TAPCARD_NOTICE_SMTP_PASSWORD", ""),
        )
        return SmtpChannel(relay, env.get("TAPCARD_NOTICE_SMTP_FROM", "tapcard@localhost"))
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def channels_from(env: Mapping[str, str] | None = None) -> dict[ChannelName, Channel]:
    """The configured channels; a bad setting is a clear error, not a silent skip."""
    env = os.environ if env is None else env
    found: dict[ChannelName, Channel] = {}
    smtp = _smtp(env)
    if smtp is not None:
        found[ChannelName.EMAIL] = smtp
    if env.get("TAPCARD_NOTICE_SMS_URL"):
        found[ChannelName.SMS] = SmsChannel(
            env["TAPCARD_NOTICE_SMS_URL"],
            env.get("TAPCARD_NOTICE_SMS_KEY", ""),
            _templates(env, "TAPCARD_NOTICE_SMS_TEMPLATES"),
            env.get("TAPCARD_NOTICE_SMS_SIGN", ""),
        )
    if env.get("TAPCARD_NOTICE_WECHAT_API"):
        found[ChannelName.WECHAT] = WeChatChannel(
            env["TAPCARD_NOTICE_WECHAT_API"],
            env.get("TAPCARD_NOTICE_WECHAT_TOKEN", ""),
            _templates(env, "TAPCARD_NOTICE_WECHAT_TEMPLATES"),
        )
    if env.get("TAPCARD_NOTICE_WEBHOOK_URL"):
        found[ChannelName.WEBHOOK] = WebhookChannel(
            env["TAPCARD_NOTICE_WEBHOOK_URL"], env.get("TAPCARD_NOTICE_WEBHOOK_SECRET", "")
        )
    return found


def rates_from(env: Mapping[str, str] | None = None) -> dict[ChannelName, int]:
    env = os.environ if env is None else env
    given = _templates(env, "TAPCARD_NOTICE_RATES")
    try:
        return {ChannelName(k): int(v) for k, v in given.items()}
    except ValueError:
        raise ValidationError("TAPCARD_NOTICE_RATES maps channels to messages a minute") from None


@dataclass(slots=True)
class RoundReport:
    transfers: int = 0
    cards: int = 0
    daily: int = 0
    delivery: outbox.DeliveryStats | None = None


def run_round(
    hub: Hub,
    channels: Mapping[ChannelName, Channel],
    rates: Mapping[ChannelName, int] | None = None,
) -> RoundReport:
    report = RoundReport()
    zone = str(hub.rules.latest().time_zone)
    webhook = ChannelName.WEBHOOK in channels
    for _ in range(PAGES_PER_ROUND_MAX):
        with hub.transaction() as conn:
            planned = planner.plan_transfers(conn, hub.clock.now_ms(), zone, webhook=webhook)
        report.transfers += planned
        if planned < planner.PAGE_TRANSFERS:
            break
    with hub.transaction() as conn:
        now_ms = hub.clock.now_ms()
        report.cards = planner.plan_cards(conn, now_ms, zone)
        today = business_date(now_ms, zone)
        if get_setting(conn, DAILY_DONE_KEY) != today.isoformat():
            report.daily = planner.plan_daily(conn, today, now_ms)
            set_setting(conn, DAILY_DONE_KEY, today.isoformat())
    report.delivery = outbox.deliver_due(hub.writer, channels, hub.clock, zone, rates)
    return report
