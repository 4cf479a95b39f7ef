"""The tests' one real HTTP server on loopback, standing for what the hub posts to: the
notices' webhook receiver, the SMS provider's API, a WeChat endpoint. Each POST is
handed to the test's `answer`, which records it and says the status and body to reply;
an answer may hold the reply back (a slow receiver) and the sender may be gone by then.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[Posted], tuple[int, bytes]]


@contextmanager
def http_serving(answer: Answer) -> Iterator[str]:
    """A threading HTTP server on a free loopback port for the block; yields its base
    URL (`http://127.0.0.1:PORT`)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, reply = answer(Posted(self.path, dict(self.headers), body))
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:  # the sender was killed while the reply was held back
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
