"""Pages (issue 17): segments of members. The list with counts and last refresh, a
segment's rules in words and its members in pages, a preview of rules typed as JSON
(a COUNT, nothing written), saving a new segment and refreshing one now.

The same functions as `tapcard hub segment add | preview | refresh` (hub/segments.py),
so a segment saved here is audited as one added there; the actor is `web:<username>`.
Saving and refreshing are HQ's (an admin); anyone logged in may look and preview, and a
branch manager sees only their own branch's members of a segment.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from hub import db, segments
from hub.segments_schema import SEGMENT_CODE_CHARS
from hub.web import auth, i18n, member_list
from hub.web.deps import form_for_change, page_user, web
from hub.web.pages_fleet import done, render
from hub.web.segment_words import error_line, rule_lines
from tapcard.errors import TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]
Code = Annotated[str, Path(max_length=SEGMENT_CODE_CHARS, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
RULES_CHARS_MAX: Final = 20_000
EXAMPLE_RULES: Final = '{"tags_any": ["vip"], "window_days": 90, "spend_min_cents": 50000}'


def _hq(user: auth.User) -> None:
    if user.branch_scope is not None or not user.is_admin:
        raise HTTPException(403, "only an HQ admin can save or refresh a segment")


def _text(form: dict[str, Any], name: str, most: int) -> str:
    value = form.get(name, "")
    return value.strip()[:most] if isinstance(value, str) else ""


def _list_page(request: Request, user: auth.User, **typed: Any) -> Response:
    with web(request).hub.engine.connect() as conn:
        rows = segments.listed(conn)
    form = {"code": "", "name": "", "rules": EXAMPLE_RULES, **typed.pop("form", {})}
    return render(request, "segments.html", user, rows=rows, form=form, **typed)


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, user: User) -> Response:
    return _list_page(request, user)


@router.post("/segments/preview", response_class=HTMLResponse)
async def segments_preview(request: Request, user: User) -> Response:
    """How many members typed rules pick now; read only, so any role may ask (the
    CSRF token is checked still: a preview runs a query on the hub's database)."""
    form = dict(await request.form())
    if not auth.csrf_ok(user.csrf, _text(form, "csrf", 200)):
        raise HTTPException(403, "the form has expired or did not come from this site: reload it")
    typed = {
        "code": _text(form, "code", SEGMENT_CODE_CHARS),
        "name": _text(form, "name", 200),
        "rules": _text(form, "rules", RULES_CHARS_MAX),
    }
    _ = i18n.translator(i18n.request_lang(request))
    try:
        rules = segments.parse(typed["rules"] or "{}")
        with web(request).hub.engine.connect() as conn:
            count = segments.preview(conn, rules)
    except TapcardError as exc:
        msgid, values = error_line(str(exc), _)
        shown = _(msgid, **values) if values else _(msgid)
        return _list_page(request, user, form=typed, preview_error=shown)
    return _list_page(request, user, form=typed, preview=count, lines=rule_lines(rules, _))


@router.post("/segments")
async def segment_save(request: Request, user: User) -> Response:
    _hq(user)
    form = await form_for_change(request, user)
    _ = i18n.translator(i18n.request_lang(request))
    code = _text(form, "code", SEGMENT_CODE_CHARS + 1)
    name = _text(form, "name", 201)
    try:
        rules = segments.parse(_text(form, "rules", RULES_CHARS_MAX) or "{}")
        with web(request).hub.transaction() as conn:
            segments.add(conn, code, name, rules, user.actor)
            count = segments.refresh(conn, code)
    except TapcardError as exc:
        msgid, values = error_line(str(exc), _)
        if msgid == str(exc):  # not one of the common mistakes: as the hub said it
            msgid, values = "The segment was not saved: {why}", {"why": str(exc)}
        return done("/segments", error=msgid, **values)
    return done(f"/segments/{code}", msg="segment {code} saved: {n} members", code=code, n=count)


@router.post("/segments/{code}/refresh")
async def segment_refresh(request: Request, code: Code, user: User) -> Response:
    _hq(user)
    await form_for_change(request, user)
    try:
        with web(request).hub.transaction() as conn:
            count = segments.refresh(conn, code)
    except TapcardError as exc:
        return done("/segments", error="The segment was not refreshed: {why}", why=str(exc))
    return done(
        f"/segments/{code}", msg="segment {code} refreshed: {n} members", code=code, n=count
    )


def _members_page(
    conn: Connection, code: str, scope: str | None, page: int
) -> member_list.MemberPage:
    """The segment's members (as of its last refresh) by id, a branch's only for its
    manager; the same columns as the member list."""
    m, sm = db.members, db.segment_members
    where: list[sa.ColumnElement[bool]] = [sm.c.segment_code == code]
    if scope is not None:
        where.append(m.c.branch_id == scope)
    joined = sm.join(m, m.c.id == sm.c.member_id)
    count = sa.select(sa.func.count()).select_from(joined).where(*where)
    total = int(conn.execute(count).scalar_one())
    pages = max(1, -(-total // member_list.PAGE_ROWS))
    page = min(page, pages)
    query = (
        sa.select(m.c.id, m.c.name, m.c.phone, m.c.tier, m.c.state)
        .select_from(joined)
        .where(*where)
        .order_by(m.c.id)
        .offset((page - 1) * member_list.PAGE_ROWS)
        .limit(member_list.PAGE_ROWS)
    )
    rows = [dict(r._mapping) for r in conn.execute(query)]
    return member_list.MemberPage(rows, total, page, pages)


@router.get("/segments/{code}", response_class=HTMLResponse)
def segment_page(
    request: Request,
    code: Code,
    user: User,
    page: Annotated[int, Query(ge=1, le=member_list.PAGE_MAX)] = 1,
) -> Response:
    s = db.segments
    with web(request).hub.engine.connect() as conn:
        row = conn.execute(sa.select(s).where(s.c.code == code)).mappings().first()
        if row is None:
            raise HTTPException(404, f"segment {code} does not exist")
        listing = _members_page(conn, code, user.branch_scope, page)
    rules = segments.parse(str(row["rules"]))
    _ = i18n.translator(i18n.request_lang(request))
    return render(
        request,
        "segment.html",
        user,
        s=dict(row),
        lines=rule_lines(rules, _),
        listing=listing,
    )
