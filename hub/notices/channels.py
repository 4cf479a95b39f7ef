"""The ways a notice leaves the hub, each behind the one `Channel` interface.

- e-mail over SMTP (plain, STARTTLS or TLS, with a login only over TLS);
- SMS through a provider's HTTP API: a generic adapter that POSTs JSON with the
  provider's template id for the notice's kind and its fields;
- a signed webhook to the chain's own systems: HMAC-SHA256 over the body;
- the WeChat template message API (`/cgi-bin/message/template/send`), the same shape.

A channel sends one notice or raises DeliveryError, saying whether trying again later
may work (a timeout, a 5xx, 429, a busy provider) or never will (a refused address, a
4xx, an unknown template). Every channel passes the notice's key on as its idempotency
key (`Idempotency-Key`, the mail's Message-ID), so a notice tried again after a crash
between sending and recording can be recognised by the receiver.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final, Protocol

HTTP_TIMEOUT_S: Final = 10.0
SMTP_TIMEOUT_S: Final = 10.0
SIGNATURE_HEADER: Final = "X-Tapcard-Signature"  # "sha256=<hex HMAC of the body>"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
ERROR_CHARS_MAX: Final = 300
WECHAT_BUSY: Final = frozenset({-1, 40001, 42001})  # system busy, token invalid or expired


class ChannelName(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WECHAT = "wechat"
    WEBHOOK = "webhook"


class Purpose(enum.StrEnum):
    """Why a notice is sent, which decides the consent it needs (PIPL)."""

    SERVICE = "service"  # about the member's own account: receipts, a lost card
    MARKETING = "marketing"  # offers and greetings: never in quiet hours


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notice as a channel sends it."""

    key: str
    kind: str
    address: str  # e-mail address, phone, openid, or the webhook's URL
    lang: str
    subject: str
    body: str
    data: Mapping[str, str]
    member_id: int | None = None


class DeliveryError(Exception):
    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message[:ERROR_CHARS_MAX])
        self.transient = transient


class Channel(Protocol):
    @property
    def name(self) -> ChannelName: ...

    def send(self, notice: Outgoing) -> None:
        """Deliver one notice, or raise DeliveryError."""


# --- HTTP ---------------------------------------------------------------------------------


def post_json(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float = HTTP_TIMEOUT_S
) -> bytes:
    """POST a JSON body; the response body on 2xx, else DeliveryError (transient for
    429, 5xx and network errors). Only http(s) URLs: a file: URL is never opened."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"not a web URL: {url[:60]}", transient=False)
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
            return bytes(answer.read())
    except urllib.error.HTTPError as exc:
        transient = exc.code == 429 or exc.code >= 500
        raise DeliveryError(f"HTTP {exc.code} from the receiver", transient) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"cannot reach the receiver: {exc}", transient=True) from None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """The chain's own systems: every event POSTed as JSON, signed over the body."""

    url: str
    secret: str = field(repr=False)

    @property
    def name(self) -> ChannelName:
        return ChannelName.WEBHOOK

    def send(self, notice: Outgoing) -> None:
        event = {"event": notice.kind, "key": notice.key, "member_id": notice.member_id}
        body = json.dumps({**event, "data": dict(notice.data)}, ensure_ascii=False).encode()
        headers = {SIGNATURE_HEADER: signature(self.secret, body), IDEMPOTENCY_HEADER: notice.key}
        post_json(self.url, body, headers)


@dataclass(frozen=True, slots=True)
class SmsChannel:
    """A provider's HTTP API, configured with its URL, key and a template id per kind."""

    url: str
    api_key: str = field(repr=False)
    templates: Mapping[str, str] = field(default_factory=dict)  # notice kind -> template id
    sign_name: str = ""  # the 签名 a Chinese SMS provider puts before the text

    @property
    def name(self) -> ChannelName:
        return ChannelName.SMS

    def send(self, notice: Outgoing) -> None:
        template = self.templates.get(notice.kind)
        if template is None:
            raise DeliveryError(f"no SMS template for {notice.kind}", transient=False)
        body = {
            "phone": notice.address,
            "template_id": template,
            "sign_name": self.sign_name,
            "params": dict(notice.data),
            "text": notice.body,
        }
        headers = {"Authorization": f"Bearer {self.api_key}", IDEMPOTENCY_HEADER: notice.key}
        post_json(self.url, json.dumps(body, ensure_ascii=False).encode(), headers)


@dataclass(frozen=True, slots=True)
class WeChatChannel:
    """The WeChat template message API: the member's openid, the template for the kind,
    each field as {"value": ...}. WeChat answers 200 with an errcode; 0 is sent."""

    api_base: str  # https://api.weixin.qq.com in production
    access_token: str = field(repr=False)
    templates: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> ChannelName:
        return ChannelName.WECHAT

    def send(self, notice: Outgoing) -> None:
        template = self.templates.get(notice.kind)
        if template is None:
            raise DeliveryError(f"no WeChat template for {notice.kind}", transient=False)
        url = f"{self.api_base.rstrip('/')}/cgi-bin/message/template/send"
        url += "?" + urllib.parse.urlencode({"access_token": self.access_token})
        body = {
            "touser": notice.address,
            "template_id": template,
            "data": {k: {"value": v} for k, v in notice.data.items()},
        }
        answer = post_json(
            url, json.dumps(body, ensure_ascii=False).encode(), {IDEMPOTENCY_HEADER: notice.key}
        )
        try:
            code = int(json.loads(answer or b"{}").get("errcode", 0))
        except (ValueError, AttributeError):
            raise DeliveryError("WeChat answered something that is not JSON", True) from None
        if code:
            raise DeliveryError(f"WeChat errcode {code}", transient=code in WECHAT_BUSY)


# --- e-mail -------------------------------------------------------------------------------

SMTP_SECURITY: Final = ("none", "starttls", "tls")  # plain, upgraded after EHLO, TLS at once


@dataclass(frozen=True, slots=True)
class SmtpRelay:
    """A mail server and how to talk to it. The one SMTP sender of the hub: the notices'
    e-mail channel and the dashboard's alert mail both go through it."""

    host: str
    port: int
    security: str = "none"  # SMTP_SECURITY
    user: str = ""  # a login (AUTH) only over TLS, never in the clear
    password: str = field(default="", repr=False)
    ca_file: str = ""  # the CA of the server's certificate; "": the system's
    timeout_s: float = SMTP_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.security not in SMTP_SECURITY:
            raise ValueError(f"SMTP security is one of {', '.join(SMTP_SECURITY)}")
        if self.user and self.security == "none":
            raise ValueError("an SMTP login needs starttls or tls: a password is never sent plain")

    def _connect(self) -> smtplib.SMTP:
        # A TLS context only for TLS: loading the CA store took longer than the mail
        # itself (bench/notices.py).
        if self.security == "none":
            return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)  # refuses a server that does not offer it
            except BaseException:
                smtp.close()  # not left open: the relay would wait for us till its timeout
                raise
        return smtp

    def send(self, mail: EmailMessage) -> None:
        """Send one message, or raise DeliveryError saying whether a retry may work."""
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"the mail server refused {mail['To']}: {exc}", False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", transient=exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"cannot reach the mail server: {exc}", transient=True) from None


@dataclass(frozen=True, slots=True)
class SmtpChannel:
    relay: SmtpRelay
    sender: str

    @property
    def name(self) -> ChannelName:
        return ChannelName.EMAIL

    def message(self, notice: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, notice.address, notice.subject
        # The notice's key alone makes the Message-ID, so the same notice sent again has
        # the same (email.utils.make_msgid would add the time, pid and a random number).
        digest = hashlib.sha256(notice.key.encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@tapcard.notices>"
        mail.set_content(notice.body)
        return mail

    def send(self, notice: Outgoing) -> None:
        self.relay.send(self.message(notice))
