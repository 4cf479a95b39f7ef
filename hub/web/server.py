"""Runs the dashboard with uvicorn in a thread of the hub's process.

The socket is bound here, before uvicorn starts, so a port in use is a clear error for
the caller (and `serve` keeps ingesting) instead of an exit inside uvicorn's thread.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from hub.config import BrokerAddress
from tapcard.errors import TapcardError

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
GRACEFUL_SHUTDOWN_S = 2  # open event streams end when the watcher stops; then cut
WEB_PORT_DEFAULT = 8080


def parse_address(text: str) -> BrokerAddress:
    """HOST:PORT (the same shape as a broker address)."""
    return BrokerAddress.parse(text if ":" in text else f"{text}:{WEB_PORT_DEFAULT}")


class WebServer:
    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise TapcardError(
                f"the dashboard cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        self.host, self.port = host, int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            proxy_headers=True,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="web-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise TapcardError("the dashboard did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.app.state.web.watcher.shutdown()  # ends event streams so shutdown is quick
        self._server.should_exit = True
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self._sock.close()
