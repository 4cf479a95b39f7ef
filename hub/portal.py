"""What the member page reads and changes for the member who logged in.

Member data is read and changed through the hub's member functions (member_view,
edit_member, the notices' consent API), so what they do to it (masking, sealing at
rest, the audit, the access log) applies here too. Every change is audited under
`member:<id>`, the member's own hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.members import member_view
from hub.admin.profiles import ProfileChange, edit_member
from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import MEMBER_CHANNELS, consenting, record_consent
from tapcard.domain.model import CardState
from tapcard.errors import ConflictError, ValidationError

TERMS_VERSION: Final = "portal-2026-1"  # the consent text the page shows
REASON_CHARS_MAX: Final = 500
VOUCHERS_SHOWN_MAX: Final = 50
QR_BOX_PX: Final = 6
CLOSE_OPEN: Final = "open"

Choice = tuple[ChannelName, Purpose]
CHOICES: Final[tuple[Choice, ...]] = tuple(
    (channel, purpose) for channel in MEMBER_CHANNELS for purpose in Purpose
)


def actor(member_id: int) -> str:
    return f"member:{member_id}"


@dataclass(frozen=True, slots=True)
class Overview:
    name: str
    tier: str
    stored_value_cents: int
    points: int
    points_expiring: int
    points_expire_on: Any  # a date, or None
    card_id: str
    card_expires_on: Any
    card_state: str


def overview(conn: Connection, member_id: int) -> Overview:
    view = member_view(conn, member_id)
    cards = [c for c in view["cards"] if c["state"] == CardState.ACTIVE.value] or view["cards"]
    card = max(cards, key=lambda c: str(c["id"])) if cards else {}
    balances = view["balances"]
    return Overview(
        name=str(view["name"]),
        tier=str(view["tier"]),
        stored_value_cents=int(balances.get("cents", 0)),
        points=int(balances.get("points", 0)),
        points_expiring=int(view["points_expiring"] or 0),
        points_expire_on=view["points_expire_on"],
        card_id=str(card.get("id", "")),
        card_expires_on=card.get("expires_on"),
        card_state=str(card.get("state", "")),
    )


def vouchers(conn: Connection, member_id: int, now_ms: int) -> list[dict[str, Any]]:
    """The member's vouchers still to use: not used, not expired, newest first."""
    v = db.vouchers
    rows = conn.execute(
        sa.select(v.c.code, v.c.item, v.c.units, v.c.issued_ms, v.c.expires_ms)
        .where(
            v.c.member_id == member_id,
            v.c.used_ms.is_(None),
            v.c.expired_ms.is_(None),
            sa.or_(v.c.expires_ms.is_(None), v.c.expires_ms > now_ms),
        )
        .order_by(v.c.issued_ms.desc())
        .limit(VOUCHERS_SHOWN_MAX)
    )
    return [dict(row._mapping) for row in rows]


def consents(conn: Connection, member_id: int) -> dict[Choice, bool]:
    """The member's latest decision for each channel and purpose (no decision: no)."""
    return {
        (channel, purpose): member_id in consenting(conn, [member_id], channel, purpose)
        for channel, purpose in CHOICES
    }


def set_consents(conn: Connection, member_id: int, wanted: dict[Choice, bool]) -> int:
    """Record each decision that changes (a row each, audited); how many changed."""
    now = consents(conn, member_id)
    changed = 0
    for choice in CHOICES:
        granted = wanted.get(choice, False)
        if now[choice] != granted:
            channel, purpose = choice
            record_consent(
                conn, member_id, channel, purpose, granted, TERMS_VERSION, actor(member_id)
            )
            changed += 1
    return changed


def change_profile(
    conn: Connection, member_id: int, name: str, address: str, birthday: str
) -> list[str]:
    """Name, address and birthday as typed; the phone is the login and stays (the
    counter changes it). The fields that changed."""
    change = ProfileChange(name=name, address=address, birthday=birthday)

    def no_id_number(_text: str) -> str:
        raise ValidationError("the ID number is changed at the counter")

    return sorted(edit_member(conn, member_id, change, no_id_number, actor(member_id)))


def open_close_request(conn: Connection, member_id: int) -> dict[str, Any] | None:
    c = db.close_requests
    row = conn.execute(
        sa.select(c.c.id, c.c.reason, c.c.at_ms)
        .where(c.c.member_id == member_id, c.c.state == CLOSE_OPEN)
        .order_by(c.c.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row is not None else None


def request_close(conn: Connection, member_id: int, reason: str, now_ms: int) -> int:
    """Record the member's request to close the account, for HQ to act on (refund the
    stored value, anonymise); one open request at a time."""
    if open_close_request(conn, member_id) is not None:
        raise ConflictError("a request to close this account is open already")
    reason = reason.strip()[:REASON_CHARS_MAX]
    inserted = conn.execute(
        db.close_requests.insert().values(
            member_id=member_id, reason=reason, at_ms=now_ms, state=CLOSE_OPEN
        )
    ).inserted_primary_key
    assert inserted is not None
    audit(conn, actor(member_id), "member.close_requested", str(member_id), {"reason": reason})
    return int(inserted[0])


def close_requests(conn: Connection) -> list[dict[str, Any]]:
    """The open requests, oldest first: what HQ sees (the dashboard's list)."""
    c = db.close_requests
    rows = conn.execute(
        sa.select(c.c.id, c.c.member_id, c.c.reason, c.c.at_ms)
        .where(c.c.state == CLOSE_OPEN)
        .order_by(c.c.id)
    )
    return [dict(row._mapping) for row in rows]


def qr_svg(text: str) -> str:
    """The text as a QR code in SVG, drawn here (no script, no image request)."""
    import qrcode
    import qrcode.image.svg

    code = qrcode.QRCode(
        border=2,
        box_size=QR_BOX_PX,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    code.add_data(text)
    code.make(fit=True)
    svg: str = code.make_image().to_string(encoding="unicode")
    return svg
