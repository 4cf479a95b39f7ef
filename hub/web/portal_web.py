"""The member page's web plumbing and its login (hub/portal_login.py), under /m.

Its own texts (`locale/zh/LC_MESSAGES/portal.po`, English msgids, Chinese first as the
dashboard's are) and templates (`templates/portal/`); money, times and the language
switch are the dashboard's (hub/web/i18n.py). A page without a good member session
answers 303 to the member login, never the staff one.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hub.notices.channels import Channel, ChannelName
from hub.notices.run import channels_from
from hub.portal_login import (
    CODE_LIFETIME_MS,
    SESSION_MS,
    PortalRefused,
    check_code,
    csrf_token,
    open_session,
    send_code,
    session_member,
)
from hub.web import i18n
from hub.web.deps import set_cookie, web
from tapcard.ui.i18n import parse_po

PREFIX: Final = "/m"
MEMBER_COOKIE: Final = "tapcard_member"
LOGIN_COOKIE: Final = "tapcard_member_login"  # double-submit token of the login forms
LOGIN_FORM_S: Final = 600
DOMAIN: Final = "portal"
# What the page says for each refusal and outcome word (English msgids).
WORDS: Final = {
    "bad_phone": "Please enter your mobile number",
    "wait": "A code was sent a moment ago: wait a minute",
    "too_many": "Too many codes asked for: try again in an hour",
    "no_sms": "Codes cannot be sent now: please ask at the counter",
    "sms_failed": "The SMS could not be sent: try again",
    "code_expired": "The code has expired: ask for a new one",
    "code_dead": "Too many wrong codes: ask for a new one",
    "bad_code": "This code is not right",
    "form": "The form has expired: please try again",
    "saved": "Saved",
    "consent_saved": "Your choices are saved",
    "close_sent": "Your request is sent: HQ will contact you",
    "close_open": "A request to close your account is open already",
    "confirm": "Please tick the box to confirm",
    "invalid": "Please check the entries",
    "logged_out": "You are logged out",
    "closed": "This account is closed: this phone no longer logs in",
}
router = APIRouter(prefix=PREFIX)


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """The portal's texts over the dashboard's (a transfer kind, a card state)."""
    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    own = parse_po(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {**i18n.catalog(lang), **own}


def translator(lang: str) -> i18n.Translate:
    table = catalog(lang) if lang != "en" else {}

    def _(msgid: str, **values: object) -> str:
        text = table.get(msgid, msgid)
        return text.format(**values) if values else text

    return _


def _context(request: Request) -> dict[str, Any]:
    """After the dashboard's (which gives lang, tz, the switch): the portal's texts."""
    lang = i18n.request_lang(request)
    _ = translator(lang)
    word = request.query_params.get("msg", "")
    return {"_": _, "said": _(WORDS[word]) if word in WORDS else "", "prefix": PREFIX}


@functools.cache
def templates() -> Jinja2Templates:
    folder = str(resources.files("hub.web") / "templates" / "portal")
    found = Jinja2Templates(directory=folder)
    i18n.install(found)
    found.context_processors.append(_context)
    return found


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    return templates().TemplateResponse(request, name, context, status_code=status)


def to(path: str, word: str = "") -> RedirectResponse:
    """Post/redirect/get, with the outcome's word for the next page."""
    return RedirectResponse(PREFIX + path + (f"?msg={quote(word)}" if word else ""), 303)


def cookie(response: Response, request: Request, name: str, value: str, max_age_s: int) -> None:
    """The member page's cookies go only to its own path."""
    set_cookie(response, request, name, value, max_age_s, path=PREFIX)


@dataclass(frozen=True, slots=True)
class Member:
    member_id: int
    csrf: str


def member(request: Request) -> Member:
    """The logged-in member, or a 303 to the member login."""
    hub = web(request).hub
    token = request.cookies.get(MEMBER_COOKIE, "")
    found = session_member(hub.secrets, token, hub.clock.now_ms()) if token else None
    if found is None:
        raise HTTPException(303, "log in first", headers={"Location": PREFIX + "/login"})
    return Member(found, csrf_token(hub.secrets, token))


def form_ok(request: Request, who: Member, sent: str) -> bool:
    return secrets.compare_digest(who.csrf.encode(), sent.encode())


def sms(request: Request) -> Channel | None:
    """The SMS channel of the hub's environment, read once (hub/notices/run.py)."""
    state = request.app.state
    if not hasattr(state, "portal_sms"):
        state.portal_sms = channels_from().get(ChannelName.SMS)
    channel: Channel | None = state.portal_sms
    return channel


# --- login --------------------------------------------------------------------------------


def _login_form(request: Request, phone: str = "", step: str = "phone", word: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=200 if not word else 400,
        token=token,
        phone=phone,
        step=step,
        error=translator(i18n.request_lang(request))(WORDS.get(word, "")) if word else "",
        minutes=CODE_LIFETIME_MS // 60_000,
    )
    cookie(response, request, LOGIN_COOKIE, token, LOGIN_FORM_S)
    return response


def _login_token_ok(request: Request, sent: str) -> bool:
    kept = request.cookies.get(LOGIN_COOKIE, "")
    return bool(kept) and secrets.compare_digest(kept.encode(), sent.encode())


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login/code")
def ask_code(
    request: Request,
    phone: Annotated[str, Form(max_length=32)],
    token: Annotated[str, Form(max_length=64)],
) -> Response:
    if not _login_token_ok(request, token):
        return _login_form(request, word="form")
    hub, lang = web(request).hub, i18n.request_lang(request)
    address = request.client.host if request.client else ""
    refused: PortalRefused | None = None
    with hub.transaction() as conn:  # a refusal's row, once written, is kept: it counts
        try:
            send_code(conn, hub.secrets, sms(request), phone, address, lang, hub.clock.now_ms())
        except PortalRefused as exc:
            refused = exc
    if refused is not None:
        step = "code" if refused.reason == "wait" else "phone"
        return _login_form(request, phone, step, refused.reason)
    return _login_form(request, phone, "code")


@router.post("/login")
def log_in(
    request: Request,
    phone: Annotated[str, Form(max_length=32)],
    code: Annotated[str, Form(max_length=12)],
    token: Annotated[str, Form(max_length=64)],
) -> Response:
    if not _login_token_ok(request, token):
        return _login_form(request, word="form")
    hub = web(request).hub
    member_id, refused = 0, None
    with hub.transaction() as conn:  # caught inside, so that a wrong try stays counted
        try:
            member_id = check_code(conn, hub.secrets, phone, code, hub.clock.now_ms())
        except PortalRefused as exc:
            refused = exc
    if refused is not None:
        step = "code" if refused.reason == "bad_code" else "phone"
        return _login_form(request, phone, step, refused.reason)
    response = to("/")
    session = open_session(hub.secrets, member_id, hub.clock.now_ms())
    cookie(response, request, MEMBER_COOKIE, session, SESSION_MS // 1000)
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def log_out(request: Request, csrf: Annotated[str, Form(max_length=64)]) -> Response:
    who = member(request)
    if not form_ok(request, who, csrf):
        return to("/", "form")
    response = to("/login", "logged_out")
    response.delete_cookie(MEMBER_COOKIE, path=PREFIX)
    return response
