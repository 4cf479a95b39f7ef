"""Who a staff request or an intent comes from, as the hub knows it.

A staff member logs in at a terminal (PIN or staff card) and the hub answers with a
session: a random token, kept here as its sha256, bound to that device, staff id and
role, ending SESSION_S later. Staff requests other than the logins carry it; intents
rung up at a terminal carry it too (`TxIntent.staff_session`), so the staff id the
ledger records, and the staff reports are built on, is one the hub let in at that
device, never free text. An intent made after an offline login (the terminal's cache
let the person in) is marked `staff_offline` and checked on arrival: the staff id must
be active at the device's branch.

A login first takes a one-time challenge from the hub (CHALLENGE_S): the sealed PIN
names it, so a captured login message cannot be replayed. PIN tries are limited per
staff member and per device (PIN_TRIES_MAX, DEVICE_PIN_TRIES_MAX within
PIN_TRIES_WINDOW_S); a locked PIN check is refused before any scrypt work.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.login_tries import Lockout, TryLimits, TryLog
from tapcard.domain.model import StaffRole
from tapcard.wire.codes import Reason
from tapcard.wire.messages import TxIntent

TERMINAL_KIND: Final = "terminal"  # the device kind that may act for staff
TOKEN_BYTES: Final = 24  # 192 bits; 32 url-safe base64 characters on the wire
SESSION_S: Final = 8 * 3600  # one shift: staff requests need a fresh login after
# Intents made online under a session may reach the hub after the terminal was offline
# as long as its login cache lasts (terminal.presenters.login_cache): a week.
SESSION_INTENT_GRACE_S: Final = 7 * 24 * 3600
SESSIONS_PER_DEVICE_MAX: Final = 200  # older ones are dropped: a terminal's few shifts
CHALLENGE_S: Final = 60  # a login challenge is used within a minute or not at all
CHALLENGES_PER_DEVICE_MAX: Final = 8  # a terminal waits for one login at a time
PIN_TRIES_MAX: Final = 5  # wrong PINs for one staff member within the window
DEVICE_PIN_TRIES_MAX: Final = 20  # wrong PINs at one device (any staff id) in the window
PIN_TRIES_WINDOW_S: Final = 15 * 60
PIN_LOCKOUT_S: Final = 15 * 60  # after the last wrong PIN that reached a limit
assert TOKEN_BYTES * 4 // 3 == 32  # the wire's SessionToken pattern
assert DEVICE_PIN_TRIES_MAX >= PIN_TRIES_MAX >= 3
assert SESSION_INTENT_GRACE_S >= SESSION_S > CHALLENGE_S


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def device_kind_and_branch(conn: Connection, device_id: str) -> tuple[str, str] | None:
    """(kind, branch) of an active device, from the devices table, not the message."""
    d = db.devices
    row = conn.execute(
        sa.select(d.c.kind, d.c.branch_id).where(d.c.id == device_id, d.c.state == "active")
    ).first()
    return (str(row.kind), str(row.branch_id)) if row is not None else None


def staff_at_branch(conn: Connection, staff_id: str, branch: str) -> bool:
    s = db.staff
    row = conn.execute(sa.select(s.c.active, s.c.branch_id).where(s.c.id == staff_id)).first()
    return row is not None and bool(row.active) and row.branch_id == branch


# --- challenges -----------------------------------------------------------------------


def issue_challenge(conn: Connection, device_id: str, now_ms: int) -> str:
    """A one-time login challenge for this device; the oldest beyond the bound go."""
    c = db.staff_challenges
    conn.execute(c.delete().where(c.c.device_id == device_id, c.c.expires_ms <= now_ms))
    kept = conn.execute(
        sa.select(c.c.token_sha256)
        .where(c.c.device_id == device_id)
        .order_by(c.c.expires_ms.desc())
        .offset(CHALLENGES_PER_DEVICE_MAX - 1)
    ).scalars()
    stale = list(kept)
    if stale:
        conn.execute(c.delete().where(c.c.token_sha256.in_(stale)))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    conn.execute(
        c.insert().values(
            token_sha256=_sha(token), device_id=device_id, expires_ms=now_ms + CHALLENGE_S * 1000
        )
    )
    return token


def take_challenge(conn: Connection, device_id: str, challenge: str, now_ms: int) -> bool:
    """Whether `challenge` is this device's, unexpired and unused; it is used up now."""
    if not challenge:
        return False
    c = db.staff_challenges
    gone = conn.execute(
        c.delete().where(
            c.c.token_sha256 == _sha(challenge),
            c.c.device_id == device_id,
            c.c.expires_ms > now_ms,
        )
    )
    return gone.rowcount == 1


# --- sessions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    staff_id: str
    role: StaffRole
    expires_ms: int


def open_session(
    conn: Connection, staff_id: str, device_id: str, role: StaffRole, now_ms: int
) -> tuple[str, int]:
    """(token, expires_ms) of a new session; sessions past their intent grace go."""
    s = db.staff_sessions
    grace_ms = SESSION_INTENT_GRACE_S * 1000
    conn.execute(s.delete().where(s.c.device_id == device_id, s.c.expires_ms + grace_ms <= now_ms))
    old = list(
        conn.execute(
            sa.select(s.c.token_sha256)
            .where(s.c.device_id == device_id)
            .order_by(s.c.created_ms.desc())
            .offset(SESSIONS_PER_DEVICE_MAX - 1)
        ).scalars()
    )
    if old:
        conn.execute(s.delete().where(s.c.token_sha256.in_(old)))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_ms = now_ms + SESSION_S * 1000
    conn.execute(
        s.insert().values(
            token_sha256=_sha(token),
            staff_id=staff_id,
            device_id=device_id,
            role=role.value,
            created_ms=now_ms,
            expires_ms=expires_ms,
        )
    )
    return token, expires_ms


def _session_row(conn: Connection, device_id: str, token: str) -> Session | None:
    if not token:
        return None
    s = db.staff_sessions
    row = conn.execute(
        sa.select(s.c.staff_id, s.c.role, s.c.expires_ms).where(
            s.c.token_sha256 == _sha(token), s.c.device_id == device_id
        )
    ).first()
    if row is None:
        return None
    return Session(str(row.staff_id), StaffRole(row.role), int(row.expires_ms))


def live_session(conn: Connection, device_id: str, token: str, now_ms: int) -> Session | None:
    """The session a staff request carries, while it lasts (SESSION_S)."""
    session = _session_row(conn, device_id, token)
    return session if session is not None and now_ms < session.expires_ms else None


def verified_staff(conn: Connection, device_id: str, session: str, now_ms: int) -> str | None:
    """The staff id of an intent's session at this device, or None: unknown, another
    device's, or ended more than SESSION_INTENT_GRACE_S ago (intents can queue)."""
    found = _session_row(conn, device_id, session)
    if found is None or now_ms >= found.expires_ms + SESSION_INTENT_GRACE_S * 1000:
        return None
    return found.staff_id


@dataclass(frozen=True, slots=True)
class StaffCheck:
    """What the ledger records as an intent's staff: `staff_id` ("" for none) when
    `reason` is OK; else the intent is refused with `reason`."""

    staff_id: str
    reason: Reason = Reason.OK
    message: str = ""


def intent_staff(conn: Connection, device_id: str, intent: TxIntent, now_ms: int) -> StaffCheck:
    """The staff id an intent may be booked under (see StaffCheck). An intent claims no
    one, or a staff id with the session of an online login at this terminal, or a
    staff id marked `staff_offline` that must be active at the terminal's branch."""
    if not (intent.staff or intent.staff_session or intent.staff_offline):
        return StaffCheck("")
    device = device_kind_and_branch(conn, device_id)
    if device is None or device[0] != TERMINAL_KIND:
        return StaffCheck("", Reason.STAFF_NOT_ALLOWED, "only a terminal acts for staff")
    if intent.staff_session:
        staff_id = verified_staff(conn, device_id, intent.staff_session, now_ms)
        if staff_id is None or staff_id != intent.staff:
            return StaffCheck("", Reason.STAFF_UNVERIFIED, "no such staff session here")
    elif not intent.staff_offline:
        return StaffCheck("", Reason.STAFF_UNVERIFIED, "the intent carries no staff session")
    if not staff_at_branch(conn, intent.staff, device[1]):
        return StaffCheck("", Reason.STAFF_NOT_ALLOWED, f"no active staff {intent.staff} here")
    return StaffCheck(intent.staff)


# --- PIN tries (counted by hub.login_tries, like the staff card's) ----------------------

PIN_TRIES: Final = TryLog("staff_pin_failures", "staff_id", "staff")
PinLockout = Lockout  # a PIN lock in force: kind "staff" or "device"


def _pin_limits() -> TryLimits:
    # Read at each call: the module's constants are the one place the limits are set.
    return TryLimits(PIN_TRIES_MAX, DEVICE_PIN_TRIES_MAX, PIN_TRIES_WINDOW_S, PIN_LOCKOUT_S)


def pin_locked_until(conn: Connection, staff_id: str, device_id: str, now_ms: int) -> int:
    """When PIN logins for this staff id or at this device open again (0: they are open).
    Checked before any scrypt work, so a locked try costs the ingest thread nothing."""
    return PIN_TRIES.locked_until(conn, staff_id, device_id, now_ms, _pin_limits())


def record_pin_failure(conn: Connection, staff_id: str, device_id: str, now_ms: int) -> int:
    """Count a wrong PIN; the lock's end it caused, or 0."""
    return PIN_TRIES.record_failure(conn, staff_id, device_id, now_ms, _pin_limits())


def clear_pin_failures(conn: Connection, staff_id: str) -> None:
    """A right PIN: this staff member's count starts again (the device's stays)."""
    PIN_TRIES.clear(conn, staff_id)


def pin_lockouts(conn: Connection, now_ms: int) -> list[Lockout]:
    """Every staff id and device whose PIN logins are locked now, for HQ's alert list."""
    return PIN_TRIES.lockouts(conn, now_ms, _pin_limits())
