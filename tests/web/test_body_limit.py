"""Request bodies are capped before they are spooled.

Scenario: someone posts 300 MB to /login, once with an honest Content-Length and once
chunked (no length). The dashboard answers 413 at once and stops reading: in-process,
the app pulls only the chunks up to the limit, and memory stays at a chunk or two;
on a real uvicorn, the client has sent a few MiB (socket buffers) when the 413 comes.
The rule set upload keeps its larger limit: a file just under it still loads.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub import db
from hub.web import bodylimit
from hub.web.server import WebServer
from hub.web.settings import BODY_BYTES_MAX, RULES_FILE_BYTES_MAX, RULES_FORM_BYTES_MAX
from tapcard.samples import sample_rules_bytes
from tests.web.conftest import WebHub

CHUNK_BYTES = 1024 * 1024
HUGE_BYTES = 300 * CHUNK_BYTES
ANSWER_S_MAX = 3.0
PEAK_BYTES_MAX = 8 * CHUNK_BYTES  # a few chunks in flight, never the body
Client = Callable[[str], tuple[TestClient, str]]
FORM = [(b"content-type", b"application/x-www-form-urlencoded"), (b"accept", b"text/html")]


def _post(app: FastAPI, path: str, declared: bool) -> tuple[int, int, bytes]:
    """POST HUGE_BYTES to the ASGI app, chunk by chunk (one bytes object reused):
    (status, chunks the app pulled, response body)."""
    chunk, count = b"x" * CHUNK_BYTES, HUGE_BYTES // CHUNK_BYTES
    pulled, status, body = 0, [0], bytearray()

    async def receive() -> dict[str, object]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < count}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status[0] = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))  # type: ignore[arg-type]

    headers = [*FORM, *([(b"content-length", str(HUGE_BYTES).encode())] if declared else [])]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status[0], pulled, bytes(body)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_300_mb_login_is_refused_after_the_limit_with_bounded_memory(
    web_hub: WebHub, declared: bool
) -> None:
    tracemalloc.start()
    try:
        started = time.monotonic()
        status, pulled, body = _post(web_hub.app, "/login", declared)
        took_s = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert "too large" in body.decode() and "请求内容过大" in body.decode()
    # A declared length is refused before a byte is read; a chunked body as soon as
    # it passes the limit (the first 1 MiB chunk already does).
    assert pulled == (0 if declared else 1)
    assert peak < PEAK_BYTES_MAX, f"peak {peak} bytes"
    assert took_s < ANSWER_S_MAX


def _chunks(sent: list[int]) -> Iterator[bytes]:
    chunk = b"x" * CHUNK_BYTES
    for _ in range(HUGE_BYTES // CHUNK_BYTES):
        sent[0] += CHUNK_BYTES
        yield chunk


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_300_mb_upload_to_a_real_server_gets_413_quickly(
    live_server: WebServer, declared: bool
) -> None:
    sent = [0]
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if declared:
        headers["content-length"] = str(HUGE_BYTES)
    started = time.monotonic()
    # Only the status line and headers are read: the server closes the connection with
    # the client's bytes still unread, so its kernel may reset the connection and drop
    # the 413's short body before the client gets to it (it did, once in a loaded run).
    with (
        httpx.Client(base_url=live_server.url, timeout=10.0) as client,
        client.stream("POST", "/login", content=_chunks(sent), headers=headers) as response,
    ):
        status, connection = response.status_code, response.headers["connection"]
    took_s = time.monotonic() - started
    assert status == 413
    assert connection == "close"
    assert took_s < ANSWER_S_MAX, f"413 after {took_s:.2f} s"
    assert sent[0] < HUGE_BYTES // 10, f"the client sent {sent[0]} bytes before the answer"


def test_limits_are_per_route() -> None:
    assert bodylimit.limit_for("POST", "/login") == BODY_BYTES_MAX
    assert bodylimit.limit_for("POST", "/rules") == RULES_FORM_BYTES_MAX
    assert bodylimit.limit_for("POST", "/users") == BODY_BYTES_MAX


def test_the_rules_upload_keeps_its_larger_limit(web_hub: WebHub, client_for: Client) -> None:
    client, csrf = client_for("hq")
    rules = sample_rules_bytes().replace(b'"version": 1', b'"version": 2', 1)
    assert b'"version": 2' in rules
    # Padding (JSON whitespace) takes the file near its own limit: far past the
    # default body limit, still within the rule upload's.
    padded = rules[:-1] + b" " * (RULES_FILE_BYTES_MAX - len(rules) - 16) + rules[-1:]
    assert BODY_BYTES_MAX < len(padded) <= RULES_FILE_BYTES_MAX
    page = client.post(
        "/rules", data={"csrf": csrf}, files={"file": ("rules.json", padded, "application/json")}
    )
    assert "rule set 2" in page.text, page.text[-500:]
    big = client.post(
        "/users",
        data={"csrf": csrf, "username": "x" * (BODY_BYTES_MAX + 1)},
        headers={"accept": "text/html"},
    )
    assert big.status_code == 413
    with web_hub.seeded.hub.engine.connect() as conn:
        users = conn.execute(sa.select(sa.func.count()).select_from(db.web_users)).scalar()
    assert users == 4  # nothing was added
