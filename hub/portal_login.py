"""The member page's login: a phone number, then a one-time code sent by SMS.

A code is six digits, kept only as an HMAC under a key derived from the hub's secret
(a database copy gives no code), good for CODE_LIFETIME_MS and for one login, and
dead after CODE_TRIES_MAX wrong tries. Sending is limited per phone (one a minute,
PHONE_CODES_MAX an hour) and per client address (ADDRESS_CODES_MAX an hour), counted
in `portal_codes` so the limits hold across restarts and workers. A phone that is no
member's gets the same answer and a row (so it counts against the address) but no SMS:
the page tells nobody whose phone is a member's. A row holds the phone's blind index
(hub/privacy_keys.py, migration 0034), not the phone: the limits only compare it.

The code goes out at once through the SMS channel (hub/notices/channels.py), not the
outbox: it is needed within seconds, and the outbox would keep the code in clear.

The session is a cookie `member.expires.mac`, HMAC-signed with another derived key:
nothing is stored, and it ends SESSION_MS after the login. The page's forms carry a
CSRF token derived from the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, privacy_keys
from hub.admin.audit import audit
from hub.admin.duplicates import keys_of
from hub.notices.channels import Channel, DeliveryError, Outgoing
from hub.notices.templates import NoticeKind, render
from hub.secrets import HubSecrets
from tapcard.domain import profile
from tapcard.domain.model import MemberStatus, mask_phone
from tapcard.errors import TapcardError

CODE_DIGITS: Final = 6
CODE_LIFETIME_MS: Final = 5 * 60_000
CODE_TRIES_MAX: Final = 5  # wrong codes against one code: then it is dead
PHONE_GAP_MS: Final = 60_000  # one code a minute per phone
PHONE_CODES_MAX: Final = 5  # per phone per hour
ADDRESS_CODES_MAX: Final = 20  # per client address per hour (a shop's Wi-Fi shares one)
WINDOW_MS: Final = 3_600_000
SESSION_MS: Final = 30 * 60_000
ADDRESS_CHARS: Final = 64


class PortalRefused(TapcardError):
    """A login step refused; `reason` is a stable word the page translates."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sent:
    phone: str  # the phone's normal form
    sent: bool  # False: no member has this phone (the page does not say so)


def _key(keys: HubSecrets, purpose: bytes) -> bytes:
    return hmac.new(keys.secret, purpose, hashlib.sha256).digest()


def _code_hash(keys: HubSecrets, phone: str, code: str) -> str:
    body = f"{phone}:{code}".encode()
    return hmac.new(_key(keys, b"portal-code"), body, hashlib.sha256).hexdigest()


def normal_phone(text: str) -> str:
    """The phone as its key (+86 and separators dropped), as members are found by it."""
    if profile.phone_error(text):
        raise PortalRefused("bad_phone", "this is not a phone number")
    return profile.phone_key(text)[:32]


def member_of_phone(conn: Connection, phone: str) -> int | None:
    """The active member with this phone (through the phone's key, as registration
    finds a duplicate: hub/admin/duplicates.py), or None."""
    m = db.members
    row = conn.execute(
        sa.select(m.c.id, m.c.merged_into).where(m.c.phone_key == keys_of(phone, "")[0])
    ).first()
    if row is None:
        return None
    member_id = int(row.merged_into or row.id)
    state = conn.execute(sa.select(m.c.state).where(m.c.id == member_id)).scalar()
    return member_id if state == MemberStatus.ACTIVE.value else None


def _check_limits(conn: Connection, phone: str, address: str, now_ms: int) -> None:
    c = db.portal_codes
    since = now_ms - WINDOW_MS
    count, last = conn.execute(
        sa.select(sa.func.count(), sa.func.max(c.c.sent_ms)).where(
            c.c.phone == privacy_keys.phone_index(phone), c.c.sent_ms > since
        )
    ).one()
    if last is not None and now_ms - int(last) < PHONE_GAP_MS:
        raise PortalRefused("wait", "a code was sent to this phone a moment ago")
    if count >= PHONE_CODES_MAX:
        raise PortalRefused("too_many", "too many codes for this phone: try again later")
    by_address = conn.execute(
        sa.select(sa.func.count()).where(c.c.address == address, c.c.sent_ms > since)
    ).scalar_one()
    if by_address >= ADDRESS_CODES_MAX:
        raise PortalRefused("too_many", "too many codes from this address: try again later")


def send_code(
    conn: Connection,
    keys: HubSecrets,
    sms: Channel | None,
    phone_text: str,
    address: str,
    lang: str,
    now_ms: int,
) -> Sent:
    """Make, record and send a code for the phone, within the limits."""
    phone = normal_phone(phone_text)
    address = address[:ADDRESS_CHARS]
    _check_limits(conn, phone, address, now_ms)
    if sms is None:
        raise PortalRefused("no_sms", "the hub has no SMS channel configured")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    member_id = member_of_phone(conn, phone)
    row_id = conn.execute(
        db.portal_codes.insert().values(
            phone=privacy_keys.phone_index(phone),
            code_hash=_code_hash(keys, phone, code),
            expires_ms=now_ms + CODE_LIFETIME_MS,
            used_ms=None,
            address=address,
            sent_ms=now_ms,
            tries=0,
        )
    ).inserted_primary_key
    if member_id is None:
        return Sent(phone, sent=False)
    data = {"code": code, "minutes": str(CODE_LIFETIME_MS // 60_000)}
    subject, body = render(NoticeKind.LOGIN_CODE, lang, data)
    key = f"login:{row_id[0] if row_id else now_ms}"
    try:
        sms.send(Outgoing(key, NoticeKind.LOGIN_CODE.value, phone, lang, subject, body, data))
    except DeliveryError as exc:
        raise PortalRefused("sms_failed", f"the SMS could not be sent: {exc}") from None
    audit(conn, "portal", "portal.code_sent", str(member_id), {"phone": mask_phone(phone)})
    return Sent(phone, sent=True)


def check_code(conn: Connection, keys: HubSecrets, phone_text: str, code: str, now_ms: int) -> int:
    """The member a right code logs in (the code is used up), or PortalRefused."""
    phone = normal_phone(phone_text)
    c = db.portal_codes
    row = conn.execute(
        sa.select(c.c.id, c.c.code_hash, c.c.expires_ms, c.c.used_ms, c.c.tries)
        .where(c.c.phone == privacy_keys.phone_index(phone))
        .order_by(c.c.id.desc())
        .limit(1)
    ).first()
    if row is None or row.used_ms is not None or now_ms >= int(row.expires_ms):
        raise PortalRefused("code_expired", "no code is waiting for this phone: ask for one")
    if int(row.tries) >= CODE_TRIES_MAX:
        raise PortalRefused("code_dead", "too many wrong codes: ask for a new one")
    if not hmac.compare_digest(_code_hash(keys, phone, code.strip()), str(row.code_hash)):
        conn.execute(c.update().where(c.c.id == row.id).values(tries=c.c.tries + 1))
        raise PortalRefused("bad_code", "this code is not right")
    member_id = member_of_phone(conn, phone)
    conn.execute(c.update().where(c.c.id == row.id).values(used_ms=now_ms))
    if member_id is None:
        raise PortalRefused("bad_code", "this code is not right")
    audit(conn, "portal", "portal.login", str(member_id), {"phone": mask_phone(phone)})
    return member_id


# --- the session cookie -------------------------------------------------------------------


def open_session(keys: HubSecrets, member_id: int, now_ms: int) -> str:
    body = f"{member_id}.{now_ms + SESSION_MS}"
    mac = hmac.new(_key(keys, b"portal-session"), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac[:32]}"


def session_member(keys: HubSecrets, cookie: str, now_ms: int) -> int | None:
    """The member a good, unexpired session cookie names, else None."""
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    body = f"{parts[0]}.{parts[1]}"
    mac = hmac.new(_key(keys, b"portal-session"), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac[:32], parts[2]) or now_ms >= int(parts[1]):
        return None
    return int(parts[0])


def csrf_token(keys: HubSecrets, cookie: str) -> str:
    return hmac.new(_key(keys, b"portal-csrf"), cookie.encode(), hashlib.sha256).hexdigest()[:32]


def prune_codes(conn: Connection, now_ms: int) -> int:
    """Codes older than the counting window: neither a login nor a limit needs them."""
    c = db.portal_codes
    return conn.execute(c.delete().where(c.c.sent_ms < now_ms - WINDOW_MS)).rowcount or 0
