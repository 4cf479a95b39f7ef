"""Telling someone about a new alert: one small Protocol, called once per alert when it
opens (hub/web/alert_store.py sync_history). The log notifier is the default; the SMTP
notifier sends one plain e-mail per alert; the webhook notifier POSTs the alert as JSON,
signed with HMAC-SHA256 over the body. Both go through the notices' own SMTP relay and
signed POST (hub/notices/channels.py), so the hub has one way to send each.
`notifier_from` picks them by the settings (hub/web/settings.py), the watcher's default.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from hub.notices.channels import (
    SIGNATURE_HEADER,
    DeliveryError,
    SmtpRelay,
    post_json,
    signature,
)
from hub.web.alerts import Alert
from hub.web.settings import WebSettings

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5.0  # the watcher waits this long at most per alert


class AlertNotifier(Protocol):
    def notify(self, alert: Alert) -> None:
        """Called once when `alert` opens; must not raise for a delivery failure."""


class LogNotifier:
    def notify(self, alert: Alert) -> None:
        log.warning("alert %s opened: %s", alert.key, alert.message)


@dataclass(frozen=True, slots=True)
class SmtpNotifier:
    relay: SmtpRelay
    sender: str
    recipients: tuple[str, ...]

    def message(self, alert: Alert) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Subject"] = f"[tapcard] {alert.kind}: {alert.subject}"
        lines = [alert.message, "", f"branch: {alert.branch or '-'}", f"key: {alert.key}"]
        lines += [f"device: {d}" for d in alert.devices]
        mail.set_content("\n".join(lines) + "\n")
        return mail

    def notify(self, alert: Alert) -> None:
        try:
            self.relay.send(self.message(alert))
        except DeliveryError as exc:
            # A mail server that is away must not stop the watcher; the alert is on the page.
            log.warning("could not mail alert %s: %s", alert.key, exc)


@dataclass(frozen=True, slots=True)
class WebhookNotifier:
    url: str
    secret: str = field(repr=False)
    timeout_s: float = WEBHOOK_TIMEOUT_S

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"a webhook URL starts with http:// or https://, not {self.url!r}")

    def body(self, alert: Alert) -> bytes:
        return json.dumps(alert.as_dict(), ensure_ascii=False, sort_keys=True).encode()

    def notify(self, alert: Alert) -> None:
        body = self.body(alert)
        headers = {SIGNATURE_HEADER: signature(self.secret, body)}
        try:
            post_json(self.url, body, headers, self.timeout_s)
        except DeliveryError as exc:
            # A receiver that is away or refuses must not stop the watcher.
            log.warning("could not post alert %s to the webhook: %s", alert.key, exc)


@dataclass(frozen=True, slots=True)
class Notifiers:
    each: tuple[AlertNotifier, ...]

    def notify(self, alert: Alert) -> None:
        for notifier in self.each:
            notifier.notify(alert)


def notifier_from(cfg: WebSettings) -> AlertNotifier:
    """The log, and e-mail and a webhook when the settings name them."""
    each: list[AlertNotifier] = [LogNotifier()]
    if cfg.smtp_host and cfg.smtp_to:
        to = tuple(a.strip() for a in cfg.smtp_to.split(",") if a.strip())
        relay = SmtpRelay(
            cfg.smtp_host,
            cfg.smtp_port,
            security=cfg.smtp_security,
            user=cfg.smtp_user,
            password=cfg.smtp_password,
            ca_file=cfg.smtp_ca_file,
        )
        mail = SmtpNotifier(relay, cfg.smtp_from, to)
        each.append(mail)
    if cfg.webhook_url:
        each.append(WebhookNotifier(cfg.webhook_url, cfg.webhook_secret))
    return Notifiers(tuple(each))
