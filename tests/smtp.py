"""The tests' one real SMTP server on localhost (aiosmtpd, in the dev lock): plain,
STARTTLS or implicit TLS, with AUTH offered only once the session is encrypted, as a real
relay does, and addresses it refuses with a 550. It speaks RFC 5321 over TCP to Python's
smtplib, so the hub's whole path (connect, TLS handshake against the chain's own CA,
login, envelope, data) is exercised. The notices' e-mail channel and the dashboard's
alert mail are tested against it.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword, TLSSetupException

SECURITY = ("none", "starttls", "tls")


def _not_a_refused_handshake(record: logging.LogRecord) -> bool:
    """A client that refuses the server's certificate is what some tests do on purpose;
    aiosmtpd logs it as a session exception, which would fail the test (conftest)."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, TLSSetupException | ssl.SSLError)


logging.getLogger("mail.log").addFilter(_not_a_refused_handshake)


@dataclass
class Mailbox:
    """What the server saw: each mail with its envelope, and the logins tried."""

    security: str = "none"  # SECURITY
    tls: ssl.SSLContext | None = None
    login: tuple[str, str] | None = None  # the one (user, password) accepted; None: no AUTH
    refuse: set[str] = field(default_factory=set)  # RCPT TO answered 550
    mails: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)  # per mail: was the session TLS

    @property
    def messages(self) -> list[Message]:
        return [mail for _, _, mail in self.mails]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content)
        self.mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), mail))
        # STARTTLS sets the session's ssl; implicit TLS is the transport's own
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object")
        self.encrypted.append(bool(tls))
        return "250 queued"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        tried = (data.login.decode(), data.password.decode())
        self.logins.append(tried)
        return AuthResult(success=tried == self.login)


def _free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd checks it is up on the port it was given
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(box: Mailbox) -> Iterator[int]:
    """Serves `box` on 127.0.0.1 at a free port, which it yields, until the block ends."""
    if box.security not in SECURITY:
        raise ValueError(f"security is one of {SECURITY}")
    options: dict[str, Any] = {}
    if box.login is not None:
        options |= {"authenticator": box.authenticate, "auth_required": True}
        # aiosmtpd counts only STARTTLS as "TLS" for AUTH; under implicit TLS every
        # byte is already encrypted, so AUTH may be offered from the greeting on.
        options["auth_require_tls"] = box.security != "tls"
    if box.security == "starttls":
        options["tls_context"] = box.tls
    port = _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        ssl_context=box.tls if box.security == "tls" else None,
        **options,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
