"""Pages: member search and profile, card lost / replace / renew, points reversal.

Changes go through hub.admin (cards, booking), the same functions and rules as the CLI;
the actor in the audit trail is `web:<username>`. A branch manager reaches only their
branch's members (hub.web.scoping).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from hub import db, privacy
from hub.admin.booking import member_credits, reverse_points
from hub.admin.card_accounts import person_cards
from hub.admin.cards import renew_card, replace_card, report_lost
from hub.admin.members import member_view
from hub.web import auth, history, member_list
from hub.web.deps import form_for_change, page_user, require_branch, web
from hub.web.pages_fleet import done, render
from hub.web.scoping import MemberId, card_branch
from tapcard.domain.model import Asset, Payment
from tapcard.errors import NotFoundError, TapcardError

router = APIRouter(include_in_schema=False)
User = Annotated[auth.User, Depends(page_user)]

# A card fee is paid in cash or from stored value (hub.admin.cards' fee legs); tenders
# taken outside the chain carry a provider's reference the dashboard does not ask for.
FEE_PAYERS = (Payment.CASH, Payment.STORED_VALUE)


def _card_member(conn: Connection, card_id: str) -> int:
    member = conn.execute(sa.select(db.cards.c.member_id).where(db.cards.c.id == card_id)).scalar()
    if member is None:
        raise NotFoundError(f"card {card_id} does not exist")
    return int(member)


@router.get("/members", response_class=HTMLResponse)
def members_page(
    request: Request,
    user: User,
    q: Annotated[str, Query(max_length=100)] = "",
    view: member_list.View = member_list.View.TOP,
    page: Annotated[int, Query(ge=1, le=member_list.PAGE_MAX)] = 1,
) -> Response:
    """A search in pages with its count; before one, the top spenders of the last
    30 days or the newest members, in pages too."""
    hub, scope = web(request).hub, user.branch_scope
    with hub.engine.connect() as conn:
        if q.strip():
            shown = member_list.search_page(conn, q, scope, page)
        elif view is member_list.View.NEW:
            shown = member_list.newest_page(conn, scope, page)
        else:
            shown = member_list.top_page(conn, db.today_at(conn), scope, page)
    keep = {"q": q.strip()} if q.strip() else {"view": view.value}
    return render(
        request,
        "members.html",
        user,
        q=q.strip(),
        view=view.value,
        listing=shown,
        query=urlencode(keep),
        top_days=member_list.TOP_DAYS,
    )


@router.get("/members/{member_id}", response_class=HTMLResponse)
def member_page(request: Request, member_id: MemberId, user: User) -> Response:
    with web(request).hub.transaction() as conn:
        view = member_view(conn, member_id)
        require_branch(user, view["branch_id"])
        privacy.log_access(conn, user.actor, member_id, "view", "web")  # PIPL: who read it
        rows = history.member_history(conn, member_id)
        accounts = person_cards(conn, member_id)  # each card with its own account's balance
    return render(
        request,
        "member.html",
        user,
        m=view,
        history=rows,
        describe=history.describe,
        fee_payers=FEE_PAYERS,
        card_accounts=accounts,
    )


async def _card_change(
    request: Request, user: auth.User, card_id: str
) -> tuple[dict[str, Any], int]:
    form = await form_for_change(request, user)
    with web(request).hub.engine.connect() as conn:
        require_branch(user, card_branch(conn, card_id))
        return form, _card_member(conn, card_id)


def _fee_payer(form: dict[str, Any]) -> str:
    payer = str(form.get("fee_paid_by", Payment.CASH.value))
    if payer not in FEE_PAYERS:
        raise HTTPException(400, "a fee is paid by cash or stored_value")
    return payer


@router.post("/cards/{card_id}/lost")
async def card_lost(request: Request, card_id: str, user: User) -> Response:
    _, member_id = await _card_change(request, user, card_id)
    try:
        with web(request).hub.transaction() as conn:
            version = report_lost(conn, card_id, user.actor)
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    return done(f"/members/{member_id}", msg=f"card {card_id} reported lost (deny list {version})")


@router.post("/cards/{card_id}/replace")
async def card_replace(request: Request, card_id: str, user: User) -> Response:
    form, member_id = await _card_change(request, user, card_id)
    hub = web(request).hub
    try:
        with hub.transaction() as conn:
            new_id = replace_card(
                conn, card_id, hub.rules.latest(), user.actor, fee_paid_by=_fee_payer(form)
            )
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    return done(f"/members/{member_id}", msg=f"card {card_id} replaced by {new_id}")


@router.post("/cards/{card_id}/renew")
async def card_renew(request: Request, card_id: str, user: User) -> Response:
    form, member_id = await _card_change(request, user, card_id)
    hub = web(request).hub
    try:
        with hub.transaction() as conn:
            expiry = renew_card(
                conn, card_id, hub.rules.latest(), user.actor, fee_paid_by=_fee_payer(form)
            )
    except TapcardError as exc:
        return done(f"/members/{member_id}", error=str(exc))
    return done(f"/members/{member_id}", msg=f"card {card_id} renewed until {expiry}")


def _transfer_member(conn: Connection, user: auth.User, tx_id: str) -> tuple[Any, dict[str, Any]]:
    """The transfer and its member, if the user's branch may see them."""
    row = conn.execute(sa.select(db.transfers).where(db.transfers.c.tx_id == tx_id)).first()
    if row is None or row.member_id is None:
        raise HTTPException(404, f"transfer {tx_id} does not exist")
    member = member_view(conn, int(row.member_id))
    require_branch(user, member["branch_id"])
    return row, member


@router.get("/transfers/{tx_id}/reverse", response_class=HTMLResponse)
def reverse_page(request: Request, tx_id: str, user: User) -> Response:
    """What a reversal would take back, and from whom, before anything is booked."""
    with web(request).hub.engine.connect() as conn:
        row, member = _transfer_member(conn, user, tx_id)
        earned = member_credits(conn, tx_id, int(row.member_id))
        receipt = conn.execute(
            sa.select(db.receipts.c.receipt_no).where(db.receipts.c.tx_id == tx_id)
        ).scalar()
    points, growth = earned.get(Asset.POINTS, 0), earned.get(Asset.GROWTH, 0)
    balances = member["balances"]
    return render(
        request,
        "transfer_reverse.html",
        user,
        m=member,
        t=row,
        ref=receipt or history.short_id(tx_id),
        points=points,
        growth=growth,
        points_after=balances.get(Asset.POINTS.value, 0) - points,
        growth_after=balances.get(Asset.GROWTH.value, 0) - growth,
    )


@router.post("/transfers/{tx_id}/reverse")
async def reverse(request: Request, tx_id: str, user: User) -> Response:
    """A supervisor takes back points gained by fraud, with a reason (audited)."""
    form = await form_for_change(request, user)
    hub = web(request).hub
    with hub.engine.connect() as conn:
        row, _member = _transfer_member(conn, user, tx_id)
    try:
        with hub.transaction() as conn:
            reversal = reverse_points(
                conn, tx_id, user.actor, str(form.get("reason", "")), hub.rules.latest()
            )
    except TapcardError as exc:
        return done(f"/members/{row.member_id}", error=str(exc))
    return done(f"/members/{row.member_id}", msg=f"points of {tx_id} reversed by {reversal}")
