"""The dashboard application: routes, templates, error pages, the watcher's lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import gates_http
from hub.app import Hub
from hub.web import (
    api,
    auth,
    i18n,
    pages_audit,
    pages_day,
    pages_fleet,
    pages_leave,
    pages_members,
    pages_portal,
    pages_privacy,
    pages_profiles,
    pages_refunds,
    pages_reports,
    pages_segments,
    pages_tags,
)
from hub.web.bodylimit import BodyLimit
from hub.web.deps import LoginRequired, Web
from hub.web.fleet import Watcher
from hub.web.settings import WebSettings
from tapcard import __version__
from tapcard.errors import ConflictError, NotFoundError, TapcardError

log = logging.getLogger(__name__)

_STATUS_BY_ERROR: dict[type[Exception], int] = {NotFoundError: 404, ConflictError: 409}
SECURITY_HEADERS = {
    # No inline script anywhere (data goes in as JSON that cannot close its tag);
    # form-action stops an injected <form> from posting anywhere but here, base-uri an
    # injected <base> from moving relative links, object-src plugins.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _templates() -> Jinja2Templates:
    folder = str(resources.files("hub.web") / "templates")
    templates = Jinja2Templates(directory=folder)
    i18n.install(templates)
    templates.env.filters["mib"] = lambda b: f"{int(b or 0) / 2**20:,.0f} MiB"
    return templates


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def _error(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    web: Web = request.app.state.web
    return web.templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "user": None},
        status_code=status,
        headers=headers,
    )


def _install_error_pages(app: FastAPI) -> None:
    async def login_required(request: Request, _exc: Exception) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error(request, 422, f"the request is not valid: {problems}"[:500])

    async def tapcard_error(request: Request, exc: Exception) -> Response:
        return _error(request, _STATUS_BY_ERROR.get(type(exc), 400), str(exc))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("dashboard request %s failed", request.url.path, exc_info=exc)
        return _error(request, 500, "something went wrong on the hub; it has been logged")

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(TapcardError, tapcard_error)
    app.add_exception_handler(Exception, server_error)


def create_app(hub: Hub, cfg: WebSettings | None = None) -> FastAPI:
    """The dashboard for a hub; the watcher runs while the app's lifespan does."""
    cfg = cfg or WebSettings()
    auth.dummy_hash()  # now, so that the first login of an unknown user is not faster
    watcher = Watcher(hub, cfg)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()

    app = FastAPI(
        title="tapcard HQ dashboard",
        version=__version__,
        description="Fleet, alerts, members and cards, reports and rules of a tapcard hub.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.web = Web(hub, cfg, watcher, _templates())
    app.add_middleware(BodyLimit)  # inside security_headers, so a 413 carries them too

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.mount("/static", StaticFiles(packages=[("hub.web", "static")]), name="static")
    # The gates' HTTP endpoint (hub/gates_http.py): its own document, inside BodyLimit.
    app.mount(gates_http.PREFIX, gates_http.create_gates_app(hub), name="gates")
    _install_error_pages(app)
    app.include_router(i18n.router)
    app.include_router(pages_fleet.router)
    app.include_router(pages_members.router)
    app.include_router(pages_refunds.router)
    app.include_router(pages_profiles.router)
    app.include_router(pages_leave.router)
    app.include_router(pages_reports.router)
    app.include_router(pages_day.router)
    app.include_router(pages_audit.router)
    app.include_router(pages_privacy.router)
    app.include_router(pages_segments.router)
    app.include_router(pages_tags.router)
    pages_portal.include(app)  # the member page, under /m, with its own login
    app.include_router(api.router)
    app.include_router(api.metrics_router)
    return app
