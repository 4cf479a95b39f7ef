"""Telling someone about a new alert: one small Protocol, called once per alert when it
opens (hub/web/alert_store.py sync_history). The log notifier is the default; the SMTP
notifier sends one plain e-mail per alert. The channel that "segments and notifications"
builds can plug in here as another AlertNotifier.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from hub.web.alerts import Alert

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0


class AlertNotifier(Protocol):
    def notify(self, alert: Alert) -> None:
        """Called once when `alert` opens; must not raise for a delivery failure."""


class LogNotifier:
    def notify(self, alert: Alert) -> None:
        log.warning("alert %s opened: %s", alert.key, alert.message)


@dataclass(frozen=True, slots=True)
class SmtpNotifier:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    timeout_s: float = SMTP_TIMEOUT_S

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
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:
            # A mail server that is away must not stop the watcher; the alert is on the page.
            log.warning("could not mail alert %s: %s", alert.key, exc)
