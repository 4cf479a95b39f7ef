"""Alerts by e-mail over a real local SMTP server: plain, STARTTLS with a login, and
implicit TLS, the server's certificate from the chain's own CA; settings from the
hub's environment and from HQ on the alerts page, which the watcher's notifier reads
for each new alert.

Scenario: HQ's mail relay is mail.localhost on port N. Ops set TAPCARD_SMTP_* in
hub.env with a password file; later HQ moves the relay and the recipients on the
alerts page. A relay whose certificate the hub does not trust, a wrong password or a
relay that offers no STARTTLS is logged, and no mail goes out in the clear.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import db
from hub.deploy.pki import CertificateAuthority
from hub.notices.channels import SmtpRelay
from hub.web import notify_settings
from hub.web.alert_notify import Notifiers, SmtpNotifier, notifier_from
from hub.web.alerts import Alert
from hub.web.settings import WebSettings
from tapcard.errors import ValidationError
from tests.smtp import Mailbox, serving
from tests.web.conftest import FAST, WebHub

Client = Callable[[str], tuple[TestClient, str]]
ALERT = Alert(
    "outage:b-03",
    "outage",
    "b-03",
    "Store 3",
    "Store 3: 3 of 4 devices offline since 10:00",
    1_700_000_000_000,
    None,
    ("dev-1", "dev-2", "dev-3"),
)
LOGIN = ("hub-alerts", "s3cret relay password")


@pytest.fixture
def pki(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """The relay's TLS context (a server certificate for localhost from the chain's CA)
    and the CA file the hub trusts."""
    ca = CertificateAuthority.load(tmp_path / "ca", make=True)
    files = ca.ensure_pair("smtp", "localhost", ("localhost",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    return context, str(files.ca)


def _serve(box: Mailbox) -> Iterator[tuple[Mailbox, int]]:
    with serving(box) as port:
        yield box, port


@pytest.fixture
def plain() -> Iterator[tuple[Mailbox, int]]:
    yield from _serve(Mailbox())


@pytest.fixture
def starttls(pki: tuple[ssl.SSLContext, str]) -> Iterator[tuple[Mailbox, int]]:
    yield from _serve(Mailbox("starttls", pki[0], LOGIN))


@pytest.fixture
def implicit(pki: tuple[ssl.SSLContext, str]) -> Iterator[tuple[Mailbox, int]]:
    yield from _serve(Mailbox("tls", pki[0], LOGIN))


def _mailer(port: int, **kw: str) -> SmtpNotifier:
    relay = SmtpRelay("localhost", port, **kw)  # type: ignore[arg-type]
    return SmtpNotifier(relay, "hub@example.com", ("ops@example.com",))


def test_a_plain_relay_gets_one_mail_per_alert(plain: tuple[Mailbox, int]) -> None:
    box, port = plain
    _mailer(port).notify(ALERT)
    [(sender, rcpts, mail)] = box.mails
    assert (sender, rcpts) == ("hub@example.com", ["ops@example.com"])
    assert mail["Subject"] == "[tapcard] outage: Store 3" and "device: dev-2" in str(mail)
    assert box.encrypted == [False] and box.logins == []


def test_starttls_and_implicit_tls_with_a_login(
    starttls: tuple[Mailbox, int], implicit: tuple[Mailbox, int], pki: tuple[ssl.SSLContext, str]
) -> None:
    user, password = LOGIN
    for box, port, security in ((*starttls, "starttls"), (*implicit, "tls")):
        notifier = _mailer(port, security=security, user=user, password=password, ca_file=pki[1])
        notifier.notify(ALERT)
        assert len(box.mails) == 1 and box.encrypted == [True], security
        assert box.logins == [LOGIN], security


def test_what_fails_is_logged_and_nothing_goes_plain(
    starttls: tuple[Mailbox, int],
    plain: tuple[Mailbox, int],
    pki: tuple[ssl.SSLContext, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, port = starttls
    user, _ = LOGIN
    with caplog.at_level(logging.WARNING):
        _mailer(port, security="starttls", user=user, password=LOGIN[1]).notify(ALERT)  # no CA
        _mailer(port, security="starttls", user=user, password="wrong", ca_file=pki[1]).notify(
            ALERT
        )
        _mailer(plain[1], security="starttls").notify(ALERT)  # offers no STARTTLS
    assert box.mails == [] and plain[0].mails == []
    # The untrusted relay never saw the password: only the wrong one was tried.
    assert box.logins and set(box.logins) == {(user, "wrong")}
    assert caplog.text.count("could not mail alert outage:b-03") == 3
    with pytest.raises(ValueError, match="never sent plain"):
        _mailer(port, user=user, password="x")


def test_the_environment_sets_the_mail_and_the_webhook(tmp_path: Path) -> None:
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text(LOGIN[1] + "\n")
    env = {
        "TAPCARD_SMTP_HOST": "mail.example.com",
        "TAPCARD_SMTP_PORT": "587",
        "TAPCARD_SMTP_SECURITY": "starttls",
        "TAPCARD_SMTP_USER": LOGIN[0],
        "TAPCARD_SMTP_PASSWORD_FILE": str(secret_file),
        "TAPCARD_SMTP_FROM": "hub@example.com",
        "TAPCARD_SMTP_TO": "ops@example.com, boss@example.com",
        "TAPCARD_WEBHOOK_URL": "https://hooks.example.com/tapcard",
    }
    cfg = notify_settings.from_env(WebSettings(), env)
    assert (cfg.smtp_port, cfg.smtp_security, cfg.smtp_password) == (587, "starttls", LOGIN[1])
    assert LOGIN[1] not in repr(cfg)
    made = notifier_from(cfg)
    assert isinstance(made, Notifiers)
    mail = made.each[1]
    assert isinstance(mail, SmtpNotifier) and mail.recipients == (
        "ops@example.com",
        "boss@example.com",
    )
    for wrong, says in (
        ({"TAPCARD_SMTP_SECURITY": "ssl"}, "one of none, starttls, tls"),
        ({"TAPCARD_SMTP_PORT": "0"}, "port number"),
        ({"TAPCARD_SMTP_SECURITY": "none"}, "login needs"),
        ({"TAPCARD_WEBHOOK_URL": "ftp://x"}, "http:// or https://"),
        ({"TAPCARD_SMTP_PASSWORD_FILE": str(tmp_path / "none")}, "cannot be read"),
    ):
        with pytest.raises(ValidationError, match=says):
            notify_settings.from_env(WebSettings(), {**env, **wrong})


def test_hq_changes_the_relay_on_the_alerts_page_and_the_watcher_uses_it(
    web_hub: WebHub, client_for: Client, plain: tuple[Mailbox, int]
) -> None:
    box, port = plain
    client, csrf = client_for("hq")
    form = {
        "csrf": csrf,
        "smtp_host": "localhost",
        "smtp_port": str(port),
        "smtp_security": "none",
        "smtp_user": "",
        "smtp_ca_file": "",
        "smtp_from": "alerts@example.com",
        "smtp_to": "ops@example.com",
        "webhook_url": "",
    }
    notifier = notify_settings.SettingsNotifier(web_hub.seeded.hub, FAST)
    notifier.notify(ALERT)  # nothing set yet: the log only
    assert box.mails == []
    bad = client.post(
        "/alerts/notify", data={**form, "smtp_port": "99999"}, headers={"accept-language": "en"}
    )
    assert "smtp_port must be a port number" in bad.text
    client.post("/alerts/notify", data={**form, "smtp_user": "x"})  # a login needs TLS
    notifier.notify(ALERT)
    assert box.mails == []  # neither was stored
    saved = client.post("/alerts/notify", data=form, headers={"accept-language": "en"})
    assert "notification settings saved" in saved.text
    assert f'name="smtp_port" value="{port}"' in saved.text and "not set" in saved.text
    notifier.notify(ALERT)
    assert [(s, r) for s, r, _m in box.mails] == [("alerts@example.com", ["ops@example.com"])]
    with web_hub.seeded.hub.engine.connect() as conn:
        actions = list(conn.execute(sa.select(db.audit.c.action)).scalars())
    assert actions.count("alert.notify") == 1
    manager, mcsrf = client_for("mgr1")
    assert manager.post("/alerts/notify", data={**form, "csrf": mcsrf}).status_code == 403
    assert 'id="notify"' not in manager.get("/alerts").text
