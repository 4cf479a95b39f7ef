"""The dashboard's two languages, its money and its times.

Chinese first: a page is in Chinese unless the browser asks for English before Chinese
(Accept-Language) or the user chose English with the switch every page carries (a
cookie). Texts are English msgids looked up in `locale/zh/LC_MESSAGES/dashboard.po`,
read directly by the same reader as the device screens (no compile step); a text with no
entry shows in English, so a missing translation is visible (tests/web/test_i18n.py
checks every `_()` of the templates has one), never a crash.

Templates get `_` (the page's translator), `lang` and `tz` from a context processor, and
the filters `money` (integer cents -> "¥1,234.56"), `yuan` (the same without the sign, for
a column whose header says ¥) and `when` (epoch ms -> local time in the business time
zone of the rules; `ms` is the same filter under its old name).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from tapcard.domain.rules import BUSINESS_TIME_ZONE_DEFAULT
from tapcard.errors import NotFoundError
from tapcard.ui.i18n import parse_po

LANGUAGES: Final = ("zh", "en")
LANGUAGE_DEFAULT: Final = "zh"
LANG_COOKIE: Final = "tapcard_lang"
LANG_COOKIE_MAX_AGE_S: Final = 365 * 24 * 3600
LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "dashboard"
ACCEPT_LANGUAGE_CHARS_MAX: Final = 500  # a longer header is read only this far
NEXT_CHARS_MAX: Final = 500
LANGUAGE_NAMES: Final = {"zh": "中文", "en": "English"}
# A page's one-line outcome carries its values as `m_<field>` query parameters beside
# `msg` (pages_fleet.done), so that it is translated as a whole on the next page.
FLASH_PREFIX: Final = "m_"
FLASH_VALUES_MAX: Final = 8
FLASH_VALUE_CHARS_MAX: Final = 200
_CJK: Final = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")

Translate = Callable[..., str]
router = APIRouter()


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    return parse_po(path.read_text(encoding="utf-8"))


def translator(lang: str) -> Translate:
    """`_(msgid, **values)`: the text in `lang`, with `{name}` fields filled in."""
    table = catalog(lang) if lang != "en" else {}

    def _(msgid: str, **values: object) -> str:
        text = table.get(msgid, msgid)
        return text.format(**values) if values else text

    return _


def browser_lang(accept_language: str) -> str | None:
    """The first of our languages the browser lists, by its q-values (zh-CN, zh-TW,
    zh-Hans all mean zh); None if it lists neither."""
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(accept_language[:ACCEPT_LANGUAGE_CHARS_MAX].split(",")):
        tag, _sep, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (-q, index) < (-best[0], best[1])):
            best = (q, index, code)
    return best[2] if best else None


def request_lang(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return browser_lang(request.headers.get("accept-language", "")) or LANGUAGE_DEFAULT


def business_zone(request: Request) -> ZoneInfo:
    """The time zone of the latest rule set, once per request (the default if none is
    loaded or the database cannot say, so that an error page still renders)."""
    cached = getattr(request.state, "tapcard_zone", None)
    if isinstance(cached, ZoneInfo):
        return cached
    name = BUSINESS_TIME_ZONE_DEFAULT
    with contextlib.suppress(NotFoundError, sa.exc.SQLAlchemyError, AttributeError):
        name = request.app.state.web.hub.rules.latest().time_zone
    zone = _zone(name)
    request.state.tapcard_zone = zone
    return zone


@functools.cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(BUSINESS_TIME_ZONE_DEFAULT)


def money(cents: Any) -> str:
    """Integer cents as yuan with the sign: 123456 -> "¥1,234.56", -5 -> "-¥0.05"."""
    value = int(cents or 0)
    return f"{'-' if value < 0 else ''}¥{yuan(abs(value))}"


def yuan(cents: Any) -> str:
    value = int(cents or 0)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100:,}.{abs(value) % 100:02d}"


def local_time(epoch_ms: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).astimezone(zone)


@jinja2.pass_context
def when(context: Any, value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch ms as the business zone's local time (the zone is named once, in the
    footer); nothing yet -> "never" in the page's language."""
    if not value:
        translate: Translate = context.get("_") or translator("en")
        return translate("never")
    zone = context.get("tz") or _zone(BUSINESS_TIME_ZONE_DEFAULT)
    return local_time(int(value), zone).strftime(fmt)


def flash_values(query: Mapping[str, str]) -> dict[str, str]:
    """The `m_<field>` values of the outcome in a page's query, a few and short."""
    found = {
        key[len(FLASH_PREFIX) :]: str(value)[:FLASH_VALUE_CHARS_MAX]
        for key, value in query.items()
        if key.startswith(FLASH_PREFIX)
    }
    return dict(list(found.items())[:FLASH_VALUES_MAX])


def told(translate: Translate, msgid: str, values: Mapping[str, str]) -> str:
    """An outcome in the page's language with its values filled in. Only a text of the
    catalog takes values (a link someone made up cannot format its own text), and one
    whose values do not fit shows as it is rather than failing the page."""
    if not values or msgid not in catalog("zh"):
        return translate(msgid)
    try:
        return translate(msgid, **values)
    except (KeyError, IndexError, ValueError):
        return translate(msgid)


def english_only(text: str) -> bool:
    """No Chinese in it: a hub message the catalog lacks, shown marked lang="en" (a
    message that already carries both languages is not)."""
    return not _CJK.search(text)


def _context(request: Request) -> dict[str, Any]:
    lang = request_lang(request)
    other = LANGUAGES[(LANGUAGES.index(lang) + 1) % len(LANGUAGES)]
    translate = translator(lang)
    values = flash_values(request.query_params)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "lang": lang,
        "_": translate,
        "flash": lambda msgid: told(translate, msgid, values),
        "tz": business_zone(request),
        "other_lang": other,
        "other_lang_name": LANGUAGE_NAMES[other],
        "english_only": english_only,
        "switch_url": f"/lang/{other}?next={quote(here[:NEXT_CHARS_MAX], safe='')}",
    }


def install(templates: Jinja2Templates) -> None:
    """The translator, language and zone in every page's context, and the filters."""
    templates.context_processors.append(_context)
    env = templates.env
    env.filters["money"] = money
    env.filters["yuan"] = yuan
    env.filters["when"] = when
    env.filters["ms"] = when
    env.globals.setdefault("_", translator(LANGUAGE_DEFAULT))  # for a template with no request


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no //host), so the switch redirects nowhere else."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:NEXT_CHARS_MAX]


@router.get("/lang/{lang}")
async def switch_language(lang: str, next: str = "/") -> RedirectResponse:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE_S, samesite="lax", httponly=True
        )
    return response
