"""A small real SMTP server on localhost for the notifier tests: plain, STARTTLS or
implicit TLS, with AUTH PLAIN and LOGIN offered only once the session is encrypted, as
a real relay does. It speaks RFC 5321 over a TCP socket to Python's smtplib, so the
notifier's whole path (connect, TLS handshake against the chain's own CA, login,
envelope, data) is exercised; aiosmtpd is not in the locks, and this is all we need.
"""

from __future__ import annotations

import base64
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any


@dataclass
class Mailbox:
    """What the server saw: each mail with its envelope, and the logins tried."""

    security: str = "none"  # none | starttls | tls
    tls: ssl.SSLContext | None = None
    login: tuple[str, str] | None = None  # the one (user, password) accepted
    mails: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)  # per mail: was the session TLS


class _Session(socketserver.StreamRequestHandler):
    server: Any

    timeout = 5.0  # a client that goes quiet ends its session (and its thread)

    def setup(self) -> None:
        box: Mailbox = self.server.box
        self.secure = False
        if box.security == "tls":
            assert box.tls is not None
            self.request = box.tls.wrap_socket(self.request, server_side=True)
            self.secure = True
        super().setup()

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def _line(self) -> str:
        return self.rfile.readline(4096).decode("utf-8", "replace").rstrip("\r\n")

    def handle(self) -> None:
        box: Mailbox = self.server.box
        self._say("220 localhost test SMTP")
        sender, rcpts, authed = "", [], False
        while line := self._line():
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                offers = ["250-localhost"]
                if box.security == "starttls" and not self.secure:
                    offers.append("250-STARTTLS")
                if self.secure:
                    offers.append("250-AUTH PLAIN LOGIN")
                self._say("\n".join([*offers, "250 8BITMIME"]).replace("\n", "\r\n"))
            elif verb == "STARTTLS" and box.security == "starttls" and not self.secure:
                self._say("220 go ahead")
                assert box.tls is not None
                self.request = box.tls.wrap_socket(self.request, server_side=True)
                self.secure = True
                super().setup()  # new files over the encrypted socket
            elif verb == "AUTH" and self.secure:
                authed = self._auth(box, rest)
            elif verb == "MAIL":
                if box.login is not None and not authed:
                    self._say("530 authentication required")
                    continue
                sender = rest.split(":", 1)[1].strip().strip("<>").split(">")[0]
                self._say("250 ok")
            elif verb == "RCPT":
                rcpts.append(rest.split(":", 1)[1].strip().strip("<>"))
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                body = self._data()
                box.mails.append((sender, rcpts, message_from_bytes(body)))
                box.encrypted.append(self.secure)
                sender, rcpts = "", []
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            elif verb in ("RSET", "NOOP"):
                self._say("250 ok")
            else:
                self._say("502 not implemented")

    def _data(self) -> bytes:
        lines = []
        while (raw := self.rfile.readline(65536)) not in (b".\r\n", b""):
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        return b"".join(lines)

    def _auth(self, box: Mailbox, rest: str) -> bool:
        method, _, initial = rest.partition(" ")
        if method.upper() == "PLAIN":
            if not initial:
                self._say("334 ")
                initial = self._line()
            _, user, password = base64.b64decode(initial).decode().split("\0")
        elif method.upper() == "LOGIN":
            if not initial:
                self._say("334 " + base64.b64encode(b"Username:").decode())
                initial = self._line()
            user = base64.b64decode(initial).decode()
            self._say("334 " + base64.b64encode(b"Password:").decode())
            password = base64.b64decode(self._line()).decode()
        else:
            self._say("504 unknown method")
            return False
        box.logins.append((user, password))
        if box.login == (user, password):
            self._say("235 ok")
            return True
        self._say("535 bad login")
        return False


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True  # server_close waits for each session: no thread left behind

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a handshake the client refused (an untrusted certificate): expected


class SmtpServer:
    """Serves `box` on 127.0.0.1 at a free port until `stop`."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box
        self._server = _Server(("127.0.0.1", 0), _Session)
        self._server.box = box  # type: ignore[attr-defined]
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SmtpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
