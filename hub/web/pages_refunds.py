"""Pages: a refund from a member's ledger history (HQ admins, and a branch's manager for
the members of that branch).

Three steps, none of which trusts the one before: the sale with what is still
refundable and a quantity field per line; a review that prices the picked quantities
exactly as the hub will book them (`preview_refund`, which writes nothing) and shows
the member, the lines, the money and the points; and the booking itself through the
same hub.admin function the CLI's `tapcard hub refund` uses (`book_refund`), audited as
`web:<user>`. Each step reads the sale again, so a refund made meanwhile at a till is
seen. The review names the refund's transfer id and the booking uses it, so a form sent
twice (a double click, a reload) books one refund.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from hub.admin.members import member_view
from hub.admin.refund import book_refund, preview_refund
from hub.refund_view import sale_view
from hub.web import auth
from hub.web.deps import form_for_change, page_user, require_branch, require_write, web
from hub.web.pages_fleet import done, render
from tapcard.errors import TapcardError
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]

REASON_LEN_MIN: Final = 3
REASON_LEN_MAX: Final = 200


def _sale(request: Request, user: auth.User, tx_id: str) -> tuple[sm.SaleView, dict[str, Any]]:
    """The sale and its member, if this user may refund it (a 403 or 404 otherwise)."""
    require_write(user)
    with web(request).hub.engine.connect() as conn:
        sale = sale_view(conn, tx_id)
        member = member_view(conn, sale.member_id)
    require_branch(user, member["branch_id"])
    return sale, member


def _picked(
    sale: sm.SaleView, form: dict[str, Any], bounded: bool = True
) -> list[tuple[sm.SaleLineView, int]]:
    """(line, quantity back) from the form's q<line> fields, or all that is left.
    `bounded`: within what is left now (the booking leaves that to the hub, which
    answers a refund booked before by its transfer id rather than refusing it)."""
    if not sale.lines:
        return []  # a redemption comes back whole
    every = form.get("all") == "1"
    rows = []
    for line in sale.lines:
        left = line.quantity - line.refunded
        text = str(form.get(f"q{line.line_no}", "0") or "0").strip()
        if not text.isdigit() or int(text) > (left if bounded else line.quantity):
            raise HTTPException(400, f"line {line.line_no + 1}: a quantity from 0 to {left}")
        quantity = left if every else int(text)
        if quantity:
            rows.append((line, quantity))
    if not rows:
        raise HTTPException(400, "pick at least one line to refund (or everything)")
    return rows


def _reason(form: dict[str, Any]) -> str:
    reason = str(form.get("reason", "")).strip()
    if not REASON_LEN_MIN <= len(reason) <= REASON_LEN_MAX:
        raise HTTPException(
            400, f"a refund needs a reason of {REASON_LEN_MIN} to {REASON_LEN_MAX} characters"
        )
    return reason


def _op(sale: sm.SaleView, rows: list[tuple[sm.SaleLineView, int]], reason: str) -> m.Refund:
    lines = [m.RefundLine(line_no=line.line_no, quantity=q) for line, q in rows]
    return m.Refund(ref=sale.tx_id, lines=lines, reason=reason)


@router.get("/transfers/{tx_id}/refund", response_class=HTMLResponse)
def refund_page(request: Request, tx_id: str, user: User) -> Response:
    sale, member = _sale(request, user, tx_id)
    return render(request, "refund.html", user, s=sale, m=member, picked={}, reason="")


@router.post("/transfers/{tx_id}/refund/review", response_class=HTMLResponse)
async def refund_review(request: Request, tx_id: str, user: User) -> Response:
    """The confirmation: the member, the lines, the money and points, before booking."""
    form = await form_for_change(request, user)
    sale, member = _sale(request, user, tx_id)
    if not sale.refundable:
        return done(f"/members/{member['id']}", error=sale.why_not or "not refundable")
    rows, reason = _picked(sale, form), _reason(form)
    hub = web(request).hub
    try:
        with hub.engine.connect() as conn:
            quote = preview_refund(conn, hub.rules, _op(sale, rows, reason), user.actor)
    except TapcardError as exc:
        return done(f"/transfers/{tx_id}/refund", error=str(exc))
    return render(
        request,
        "refund_confirm.html",
        user,
        s=sale,
        m=member,
        rows=rows,
        reason=reason,
        quote=quote,
    )


@router.post("/transfers/{tx_id}/refund")
async def refund_book(request: Request, tx_id: str, user: User) -> Response:
    form = await form_for_change(request, user)
    sale, member = _sale(request, user, tx_id)
    rows, reason = _picked(sale, form, bounded=False), _reason(form)
    hub = web(request).hub
    try:
        with hub.transaction() as conn:
            booked = book_refund(
                conn, hub.rules, _op(sale, rows, reason), user.actor, str(form.get("tx_id", ""))
            )
    except TapcardError as exc:
        return done(f"/members/{member['id']}", error=str(exc))
    cents = booked.money_cents
    back = f"¥{cents // 100:,}.{cents % 100:02d} back, {booked.points} points"
    if not booked.booked:
        return done(f"/members/{member['id']}", msg=f"refund {booked.tx_id} was booked before")
    return done(
        f"/members/{member['id']}", msg=f"refund {booked.tx_id} of {sale.tx_id} booked: {back}"
    )
