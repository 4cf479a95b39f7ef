"""Request bodies are capped as they arrive, before anything is spooled.

An ASGI middleware: a declared `Content-Length` past the limit is answered 413 at
once, without reading a byte of the body; a chunked body (no length) is counted as
`receive()` hands it over and refused as soon as it passes the limit, so a 300 MB
upload costs one chunk of memory, never a spooled temporary file. The rule set upload
has its own, larger limit; every other route has `BODY_BYTES_MAX`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.web.settings import BODY_BYTES_MAX, RULES_FORM_BYTES_MAX

# (method, path) -> bytes: the routes that take more than BODY_BYTES_MAX.
LIMITS: Final[Mapping[tuple[str, str], int]] = {("POST", "/rules"): RULES_FORM_BYTES_MAX}
# Connection: close, so the server stops reading the rest instead of draining it.
_CLOSE: Final = {"Connection": "close"}


def limit_for(method: str, path: str) -> int:
    return LIMITS.get((method, path), BODY_BYTES_MAX)


def too_large_text(limit: int) -> str:
    kib = limit // 1024
    return f"请求内容过大: 最多 {kib} KiB / the request body is too large: at most {kib} KiB"


class BodyTooLarge(HTTPException):
    """Raised from `receive()` once a body passes its limit; the app's HTTP error
    handler answers it (a page, or JSON under /api), closing the connection."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_text(limit), headers=dict(_CLOSE))


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and not 0 <= declared <= limit:
            await _refuse(send, limit)
            return
        counted = 0

        async def counting_receive() -> Message:
            nonlocal counted
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


async def _refuse(send: Send, limit: int) -> None:
    """413 before the app sees the request: the body is never read."""
    body = too_large_text(limit).encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
