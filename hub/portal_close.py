"""HQ's answer to a member's request to close the account (the member page's /m/close).

A request is `open` until HQ closes the account (hub/privacy_close.py marks it `done`,
with who and when) or declines it with a reason (`declined`, audited). Either way the
member is told through the outbox as a service notice (kind `close_request`) on each
channel they agreed to service messages on. The notice carries no name: when the
account is closed, the address it goes to is the only personal data left of the person,
captured before the wipe.
"""

# Chinese text uses full-width punctuation, which is right in these strings.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.notices.channels import Purpose
from hub.notices.consent import MEMBER_CHANNELS, addresses, consenting
from hub.notices.outbox import NewNotice, enqueue
from hub.notices.templates import NoticeKind, render
from hub.portal import CLOSE_OPEN, REASON_CHARS_MAX
from tapcard.errors import ConflictError, NotFoundError, ValidationError

CLOSE_DONE: Final = "done"
CLOSE_DECLINED: Final = "declined"
ANSWER_CHARS_MIN: Final = 3
HISTORY_SHOWN: Final = 200
# What the notice says happened, in the member's language (`outcome_zh` fills
# `{outcome}` in a Chinese notice: hub/notices/templates.py render).
OUTCOMES: Final = {
    CLOSE_DONE: {
        "zh": "已办理：账户已注销，您的个人信息已删除，手机号不能再登录会员中心。",
        "en": "has been carried out: the account is closed, your personal data is removed "
        "and your phone no longer logs in to the member page.",
    },
    CLOSE_DECLINED: {
        "zh": "未获办理，原因：",
        "en": "was declined. The reason: ",
    },
}


def latest_request(conn: Connection, member_id: int) -> dict[str, Any] | None:
    """The member's newest request and HQ's answer, for the member's own page."""
    c = db.close_requests
    row = conn.execute(
        sa.select(c.c.id, c.c.reason, c.c.at_ms, c.c.state, c.c.decided_ms, c.c.answer)
        .where(c.c.member_id == member_id)
        .order_by(c.c.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row is not None else None


def requests(conn: Connection, history: bool) -> list[dict[str, Any]]:
    """Open requests oldest first; or the answered ones (done, declined) newest first."""
    c = db.close_requests
    query = sa.select(c)
    if history:
        query = query.where(c.c.state != CLOSE_OPEN).order_by(c.c.id.desc())
    else:
        query = query.where(c.c.state == CLOSE_OPEN).order_by(c.c.id)
    return [dict(row._mapping) for row in conn.execute(query.limit(HISTORY_SHOWN))]


@dataclass(frozen=True, slots=True)
class Told:
    """The closing notices, made before the wipe takes the addresses they go to."""

    notices: tuple[NewNotice, ...]


def _notices(
    conn: Connection, member_id: int, request_id: int, state: str, answer: str
) -> tuple[NewNotice, ...]:
    made: list[NewNotice] = []
    for channel in MEMBER_CHANNELS:
        if member_id not in consenting(conn, [member_id], channel, Purpose.SERVICE):
            continue
        reach = addresses(conn, [member_id], channel)
        if member_id not in reach:
            continue
        address, lang = reach[member_id]
        data = {f"outcome_{word}": text for word, text in OUTCOMES[state].items()}
        data["answer"] = answer
        subject, body = render(NoticeKind.CLOSE_REQUEST, lang, data)
        made.append(
            NewNotice(
                key=f"{NoticeKind.CLOSE_REQUEST}:{request_id}:{state}:{channel}",
                channel=channel,
                kind=NoticeKind.CLOSE_REQUEST.value,
                purpose=Purpose.SERVICE,
                address=address,
                lang=lang,
                subject=subject,
                body=body,
                data=data,
                member_id=member_id,
            )
        )
    return tuple(made)


def _open_ids(conn: Connection, member_id: int) -> list[int]:
    c = db.close_requests
    rows = conn.execute(
        sa.select(c.c.id).where(c.c.member_id == member_id, c.c.state == CLOSE_OPEN)
    )
    return [int(i) for i in rows.scalars()]


def before_close(conn: Connection, member_id: int) -> Told:
    """Called by close_account before it wipes the person: the notices to send."""
    made: list[NewNotice] = []
    for request_id in _open_ids(conn, member_id):
        made += _notices(conn, member_id, request_id, CLOSE_DONE, "")
    return Told(tuple(made))


def after_close(conn: Connection, member_id: int, actor: str, told: Told) -> list[int]:
    """The open requests marked done by `actor` now, and the member told; their ids."""
    ids = _open_ids(conn, member_id)
    if not ids:
        return []
    now_ms = db.now_ms(conn)
    c = db.close_requests
    conn.execute(
        c.update()
        .where(c.c.id.in_(ids))
        .values(state=CLOSE_DONE, decided_by=actor[:64], decided_ms=now_ms)
    )
    enqueue(conn, told.notices, now_ms)
    audit(conn, actor, "member.close_done", str(member_id), {"requests": ids})
    return ids


def decline(conn: Connection, request_id: int, actor: str, answer: str) -> int:
    """HQ declines an open request with a reason the member is shown; the member."""
    answer = answer.strip()
    if not ANSWER_CHARS_MIN <= len(answer) <= REASON_CHARS_MAX:
        raise ValidationError(
            f"give the member a reason of {ANSWER_CHARS_MIN}-{REASON_CHARS_MAX} characters"
        )
    c = db.close_requests
    row = conn.execute(sa.select(c.c.member_id, c.c.state).where(c.c.id == request_id)).first()
    if row is None:
        raise NotFoundError(f"request {request_id} does not exist")
    if row.state != CLOSE_OPEN:
        raise ConflictError(f"request {request_id} was answered already ({row.state})")
    member_id, now_ms = int(row.member_id), db.now_ms(conn)
    conn.execute(
        c.update()
        .where(c.c.id == request_id)
        .values(state=CLOSE_DECLINED, decided_by=actor[:64], decided_ms=now_ms, answer=answer)
    )
    enqueue(conn, _notices(conn, member_id, request_id, CLOSE_DECLINED, answer), now_ms)
    detail = {"request": request_id, "reason": answer}
    audit(conn, actor, "member.close_declined", str(member_id), detail)
    return member_id
