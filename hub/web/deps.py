"""What every request needs: the dashboard context, the user, CSRF checks, scoping."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.templating import Jinja2Templates

from hub.app import Hub
from hub.web import auth
from hub.web.fleet import Watcher
from hub.web.settings import WebSettings

SESSION_COOKIE = "tapcard_session"
LOGIN_COOKIE = "tapcard_login_csrf"  # double-submit token for the login form
CSRF_HEADER = "x-csrf-token"


@dataclass
class Web:
    hub: Hub
    cfg: WebSettings
    watcher: Watcher
    templates: Jinja2Templates


class LoginRequired(Exception):
    """An HTML page was asked for without a session: the handler sends /login."""


def web(request: Request) -> Web:
    context: Web = request.app.state.web
    return context


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age_s: int, path: str = "/"
) -> None:
    """Every cookie of the hub's pages: script cannot read it, it goes only to this site
    (strict), and only over TLS when the hub is served over TLS (`cookie_secure`)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        httponly=True,
        secure=web(request).cfg.cookie_secure,
        samesite="strict",
        path=path,
    )


def _user(request: Request) -> auth.User | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    with web(request).hub.engine.connect() as conn:
        return auth.session_user(conn, token)


def page_user(request: Request) -> auth.User:
    user = _user(request)
    if user is None:
        raise LoginRequired
    return user


def api_user(request: Request) -> auth.User:
    user = _user(request)
    if user is None:
        raise HTTPException(401, "log in first")
    return user


def require_write(user: auth.User) -> None:
    if not user.can_write:
        raise HTTPException(403, "your role can look but not change anything")


def require_admin(user: auth.User) -> None:
    if not user.is_admin:
        raise HTTPException(403, "only an HQ admin can do this")


def require_branch(user: auth.User, branch_id: str | None) -> None:
    if not user.sees_branch(branch_id):
        raise HTTPException(403, "this belongs to another branch")


async def form_for_change(request: Request, user: auth.User) -> dict[str, Any]:
    """The posted form of a change, after the CSRF and role checks (its size is
    capped before it is read: hub.web.bodylimit)."""
    form = await request.form()
    if not auth.csrf_ok(user.csrf, _text(form.get("csrf"))):
        raise HTTPException(403, "the form has expired or did not come from this site: reload it")
    require_write(user)
    return dict(form)


def check_api_change(request: Request, user: auth.User) -> None:
    if not auth.csrf_ok(user.csrf, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    require_write(user)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def scope(user: auth.User, asked: str | None) -> str | None:
    """The branch a query is limited to: a manager's own, whatever they ask for."""
    if user.branch_scope is not None:
        return user.branch_scope
    return asked or None


def parse_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"{text!r} is not a date (YYYY-MM-DD)") from None
