"""Telling someone about a new alert: one small Protocol, called once per alert when it
opens (hub/web/alert_store.py sync_history). The log notifier is the default; the SMTP
notifier sends one plain e-mail per alert; the webhook notifier POSTs the alert as JSON,
signed with HMAC-SHA256 over the body. `notifier_from` picks them by the settings
(hub/web/settings.py), the watcher's default. The channel that "segments and notifications"
builds can plug in here as another AlertNotifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from hub.web.alerts import Alert
from hub.web.settings import WebSettings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0
WEBHOOK_TIMEOUT_S = 5.0  # the watcher waits this long at most per alert
SIGNATURE_HEADER = "X-Tapcard-Signature"  # "sha256=<hex HMAC of the body>"


class AlertNotifier(Protocol):
    def notify(self, alert: Alert) -> None:
        """Called once when `alert` opens; must not raise for a delivery failure."""


class LogNotifier:
    def notify(self, alert: Alert) -> None:
        log.warning("alert %s opened: %s", alert.key, alert.message)


SMTP_SECURITY = ("none", "starttls", "tls")  # plain, upgraded after EHLO, TLS from the start


@dataclass(frozen=True, slots=True)
class SmtpNotifier:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    timeout_s: float = SMTP_TIMEOUT_S
    security: str = "none"  # SMTP_SECURITY
    user: str = ""  # a login (AUTH) when set: only over TLS, never in the clear
    password: str = field(default="", repr=False)
    ca_file: str = ""  # the CA that signed the server's certificate; "": the system's

    def __post_init__(self) -> None:
        if self.security not in SMTP_SECURITY:
            raise ValueError(f"SMTP security is one of {', '.join(SMTP_SECURITY)}")
        if self.user and self.security == "none":
            raise ValueError("an SMTP login needs starttls or tls: a password is never sent plain")

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._tls()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            try:
                smtp.starttls(context=self._tls())  # refuses a server that does not offer it
            except BaseException:
                smtp.close()  # not left open: the relay would wait for us till its timeout
                raise
        return smtp

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
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:
            # A mail server that is away must not stop the watcher; the alert is on the page.
            log.warning("could not mail alert %s: %s", alert.key, exc)


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class WebhookNotifier:
    url: str
    secret: bytes
    timeout_s: float = WEBHOOK_TIMEOUT_S

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"a webhook URL starts with http:// or https://, not {self.url!r}")

    def body(self, alert: Alert) -> bytes:
        return json.dumps(alert.as_dict(), ensure_ascii=False, sort_keys=True).encode()

    def notify(self, alert: Alert) -> None:
        body = self.body(alert)
        request = urllib.request.Request(  # noqa: S310 (http or https, checked above)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                SIGNATURE_HEADER: signature(self.secret, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                response.read()
        except (OSError, urllib.error.URLError, ValueError) as exc:
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
        mail = SmtpNotifier(
            cfg.smtp_host,
            cfg.smtp_port,
            cfg.smtp_from,
            to,
            security=cfg.smtp_security,
            user=cfg.smtp_user,
            password=cfg.smtp_password,
            ca_file=cfg.smtp_ca_file,
        )
        each.append(mail)
    if cfg.webhook_url:
        each.append(WebhookNotifier(cfg.webhook_url, cfg.webhook_secret.encode()))
    return Notifiers(tuple(each))
