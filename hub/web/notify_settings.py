"""Where alert notifications go: read from the hub's environment at start
(/etc/tapcard/hub.env under systemd), changed by HQ on the alerts page.

What HQ changes is kept in the settings table (`notify.<name>`, over the environment's
values) and audited before and after; the SMTP password and the webhook secret come
from files the environment names, are never shown and cannot be changed from a page
(a browser is no place for a secret). The watcher reads the current settings each time
an alert opens (`SettingsNotifier`), so a change applies to the next alert.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.engine import Connection

from hub.admin.audit import audit
from hub.admin.settings import get_setting, set_setting
from hub.app import Hub
from hub.notices.channels import SMTP_SECURITY
from hub.web.alert_notify import notifier_from
from hub.web.alerts import Alert
from hub.web.settings import WebSettings
from tapcard.errors import TapcardError, ValidationError

log = logging.getLogger(__name__)

SETTING_PREFIX: Final = "notify."
TEXT_CHARS_MAX: Final = 500
# name: environment variable (a *_FILE variable names a file holding the value).
ENV: Final = {
    "smtp_host": "TAPCARD_SMTP_HOST",
    "smtp_port": "TAPCARD_SMTP_PORT",
    "smtp_security": "TAPCARD_SMTP_SECURITY",
    "smtp_user": "TAPCARD_SMTP_USER",
    "smtp_password": "TAPCARD_SMTP_PASSWORD_FILE",
    "smtp_ca_file": "TAPCARD_SMTP_CA_FILE",
    "smtp_from": "TAPCARD_SMTP_FROM",
    "smtp_to": "TAPCARD_SMTP_TO",
    "webhook_url": "TAPCARD_WEBHOOK_URL",
    "webhook_secret": "TAPCARD_WEBHOOK_SECRET_FILE",
}
SECRETS: Final = ("smtp_password", "webhook_secret")
EDITABLE: Final = tuple(name for name in ENV if name not in SECRETS)


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # a WebSettings field
    label: str  # English msgid of the form's label


FIELDS: Final = (
    Field("smtp_host", "Mail server (SMTP host)"),
    Field("smtp_port", "Port"),
    Field("smtp_security", "Encryption"),
    Field("smtp_user", "Login (empty: none)"),
    Field("smtp_ca_file", "CA file to trust (empty: the system's)"),
    Field("smtp_from", "Sender"),
    Field("smtp_to", "Recipients (comma-separated)"),
    Field("webhook_url", "Webhook URL"),
)
assert tuple(f.name for f in FIELDS) == EDITABLE


def check(values: Mapping[str, str]) -> dict[str, str | int]:
    """The settings in `values` (names of ENV, text), each checked, or a
    ValidationError naming the first wrong one."""
    out: dict[str, str | int] = {}
    for name, raw in values.items():
        text = str(raw).strip()
        if len(text) > TEXT_CHARS_MAX or any(c in text for c in "\r\n"):
            raise ValidationError(f"{name} must be one line of at most {TEXT_CHARS_MAX} characters")
        if name == "smtp_port":
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise ValidationError("smtp_port must be a port number from 1 to 65535")
            out[name] = int(text)
            continue
        if name == "smtp_security" and text not in SMTP_SECURITY:
            raise ValidationError(f"smtp_security must be one of {', '.join(SMTP_SECURITY)}")
        web = urllib.parse.urlsplit(text).scheme in ("http", "https")
        if name == "webhook_url" and text and not web:
            raise ValidationError("webhook_url must start with http:// or https://")
        out[name] = text
    return out


def _consistent(cfg: WebSettings) -> WebSettings:
    if cfg.smtp_user and cfg.smtp_security == "none":
        raise ValidationError("an SMTP login needs smtp_security starttls or tls")
    return cfg


def from_env(cfg: WebSettings, environ: Mapping[str, str] | None = None) -> WebSettings:
    """`cfg` with the notification settings the environment gives; a ValidationError
    for a wrong one (the hub does not start with it) or a secret file it cannot read."""
    environ = os.environ if environ is None else environ
    given = {name: environ[var] for name, var in ENV.items() if environ.get(var, "").strip()}
    for name in SECRETS:
        if name in given:
            path = Path(given[name].strip())
            try:
                given[name] = path.read_text().strip()
            except OSError as exc:
                raise ValidationError(f"${ENV[name]} cannot be read: {exc}") from None
    secrets: dict[str, str | int] = {str(n): given.pop(n) for n in SECRETS if n in given}
    changes = {**check(given), **secrets}
    return _consistent(dataclasses.replace(cfg, **changes))  # type: ignore[arg-type]


def effective(conn: Connection, cfg: WebSettings) -> WebSettings:
    """`cfg` with what HQ has set on the alerts page."""
    stored = {}
    for name in EDITABLE:
        text = get_setting(conn, SETTING_PREFIX + name, "\0")
        if text != "\0":
            stored[name] = text
    try:
        return dataclasses.replace(cfg, **check(stored))  # type: ignore[arg-type]
    except ValidationError as exc:  # stored by an older hub: the environment's then
        log.warning("stored notification settings ignored: %s", exc)
        return cfg


def current(cfg: WebSettings) -> dict[str, str | int | bool]:
    """What the page shows: each editable value, and whether each secret is set."""
    shown: dict[str, str | int | bool] = {name: getattr(cfg, name) for name in EDITABLE}
    shown |= {f"{name}_set": bool(getattr(cfg, name)) for name in SECRETS}
    return shown


def store(conn: Connection, cfg: WebSettings, form: Mapping[str, str], actor: str) -> None:
    """HQ's new settings from the page's form: all checked first, then stored and
    audited together; nothing is stored when one is wrong (a TapcardError)."""
    values = check({name: str(form.get(name, "")) for name in EDITABLE})
    before = effective(conn, cfg)
    after = _consistent(dataclasses.replace(before, **values))  # type: ignore[arg-type]
    for name, value in values.items():
        set_setting(conn, SETTING_PREFIX + name, str(value))
    audit(
        conn, actor, "alert.notify", "alerts", {"before": _public(before), "after": _public(after)}
    )


def _public(cfg: WebSettings) -> dict[str, str | int]:
    return {name: getattr(cfg, name) for name in EDITABLE}


class SettingsNotifier:
    """The watcher's notifier: the notifiers the current settings turn on, for each
    alert that opens (a read of a few settings rows; alerts open seldom)."""

    def __init__(self, hub: Hub, cfg: WebSettings) -> None:
        self.hub, self.cfg = hub, cfg

    def notify(self, alert: Alert) -> None:
        try:
            with self.hub.engine.connect() as conn:
                live = effective(conn, self.cfg)
            notifier = notifier_from(live)
        except (TapcardError, ValueError, OSError) as exc:
            log.warning("alert %s not sent: the notification settings: %s", alert.key, exc)
            return
        notifier.notify(alert)
