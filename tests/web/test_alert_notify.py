"""Telling HQ of a new alert by webhook, and which notifiers the settings turn on.

Scenario: HQ's incident tool listens on a URL; each new alert is POSTed to it as JSON
with an HMAC-SHA256 signature over the body, so the tool can tell it came from the hub.
A receiver that answers 500 or is not there is logged, and the watcher goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from hub.notices.channels import SIGNATURE_HEADER
from hub.web.alert_notify import (
    LogNotifier,
    Notifiers,
    SmtpNotifier,
    WebhookNotifier,
    notifier_from,
)
from hub.web.alerts import Alert
from hub.web.settings import WebSettings

SECRET = "shared with the incident tool"
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


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[tuple[str, bytes]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.got.append((self.headers[SIGNATURE_HEADER], body))
        self.send_response(_Receiver.status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got, _Receiver.status = [], 204
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/tapcard"
    server.shutdown()
    server.server_close()


def test_a_new_alert_is_posted_signed(receiver: str) -> None:
    WebhookNotifier(receiver, SECRET).notify(ALERT)
    [(signature, body)] = _Receiver.got
    wanted = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, wanted)
    sent = json.loads(body)
    assert sent["key"] == "outage:b-03" and sent["devices"] == ["dev-1", "dev-2", "dev-3"]
    forged = "sha256=" + hmac.new(b"someone else", body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(signature, forged)


def test_a_receiver_that_fails_or_is_away_is_logged_not_raised(
    receiver: str, caplog: pytest.LogCaptureFixture
) -> None:
    _Receiver.status = 500
    with caplog.at_level(logging.WARNING, logger="hub.web.alert_notify"):
        WebhookNotifier(receiver, SECRET).notify(ALERT)
        WebhookNotifier("http://127.0.0.1:1/", SECRET, timeout_s=0.5).notify(ALERT)
    assert len(_Receiver.got) == 1  # it was asked once, and answered 500
    failures = [r.message for r in caplog.records if "could not post alert" in r.message]
    assert len(failures) == 2 and all("outage:b-03" in f for f in failures)


def test_only_a_web_url_is_a_webhook() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        WebhookNotifier("file:///etc/passwd", SECRET)


def test_the_settings_turn_the_notifiers_on(receiver: str) -> None:
    plain = notifier_from(WebSettings())
    assert isinstance(plain, Notifiers) and [type(n) for n in plain.each] == [LogNotifier]
    cfg = WebSettings(
        smtp_host="mail.example.com",
        smtp_port=587,
        smtp_from="hub@example.com",
        smtp_to="ops@example.com, boss@example.com",
        webhook_url=receiver,
        webhook_secret=SECRET,
    )
    both = notifier_from(cfg)
    assert isinstance(both, Notifiers)
    [_log, mail, hook] = both.each
    assert isinstance(mail, SmtpNotifier) and mail.relay.port == 587
    assert mail.recipients == ("ops@example.com", "boss@example.com")
    assert isinstance(hook, WebhookNotifier) and hook.url == receiver
    hook.notify(ALERT)
    assert len(_Receiver.got) == 1
