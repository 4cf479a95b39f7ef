"""Staff logins at a terminal: the one-time challenge, the sealed PIN, the staff card,
the PIN try limits, and the session the hub answers a good login with.

Each function returns the reply's fields, a refusal included (`error`), instead of
raising: the caller's transaction then commits what a refusal must leave behind (the
wrong PIN counted, the audit row, the used challenge).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import admin, db
from hub import staff_card_tries as card_tries
from hub import staff_sessions as sessions
from hub.app import Hub
from hub.staff_pins import check_pin, staff_card_id
from tapcard.domain.model import StaffRole
from tapcard.errors import ValidationError
from tapcard.wire import staff_messages as sm
from tapcard.wire.keys import open_pin

log = logging.getLogger(__name__)

Fields = dict[str, Any]
MINUTE_MS = 60_000


def refused(error: str, message: str) -> Fields:
    return {"error": error, "message": message[:500]}


def _actor(request: sm.StaffRequest) -> str:
    return f"staff:{request.staff}@{request.device}"


def _active_row(conn: Connection, staff_id: str, branch: str) -> Any:
    row = conn.execute(sa.select(db.staff).where(db.staff.c.id == staff_id)).first()
    return row if row is not None and row.active and row.branch_id == branch else None


def login(hub: Hub, conn: Connection, request: sm.StaffRequest, branch: str, now_ms: int) -> Fields:
    op = request.op
    if isinstance(op, sm.StaffLogin):
        return pin_login(hub, conn, request, op, branch, now_ms)
    assert isinstance(op, sm.StaffCardLogin)
    return card_login(conn, request, op, branch, now_ms)


def pin_login(
    hub: Hub,
    conn: Connection,
    request: sm.StaffRequest,
    op: sm.StaffLogin,
    branch: str,
    now_ms: int,
) -> Fields:
    """Lock first (no scrypt while locked), then the seal, the challenge, the PIN."""
    locked_ms = sessions.pin_locked_until(conn, request.staff, request.device, now_ms)
    if locked_ms:
        return _locked(locked_ms, now_ms)
    if not op.sealed_pin:
        return refused("invalid", "this terminal sends the PIN in clear: update its software")
    try:
        seal = open_pin(hub.secrets.hub_key, op.sealed_pin)
    except ValidationError as exc:
        return refused("invalid", str(exc))
    if seal.device != request.device or seal.staff != request.staff:
        return refused("invalid", "the sealed PIN belongs to another request")
    if not sessions.take_challenge(conn, request.device, seal.challenge, now_ms):
        admin.audit(conn, _actor(request), "staff.login_replayed", request.staff)
        return refused("invalid", "the login challenge is unknown, used or expired: try again")
    row = _active_row(conn, request.staff, branch)
    if row is None or not check_pin(seal.pin, row.pin_hash):
        return _wrong_pin(conn, request, now_ms)
    sessions.clear_pin_failures(conn, row.id)
    admin.audit(conn, _actor(request), "staff.login", row.id)
    return _session_fields(conn, row, request.device, now_ms)


def _wrong_pin(conn: Connection, request: sm.StaffRequest, now_ms: int) -> Fields:
    actor = _actor(request)
    admin.audit(conn, actor, "staff.login_failed", request.staff)
    locked_ms = sessions.record_pin_failure(conn, request.staff, request.device, now_ms)
    if not locked_ms:
        return refused("bad_pin", "wrong PIN")
    # The row HQ sees (audit log; sessions.pin_lockouts for an alert list).
    admin.audit(conn, actor, "staff.pin_locked", request.staff, {"until_ms": locked_ms})
    log.warning(
        "PIN logins for %s at %s locked: too many wrong PINs", request.staff, request.device
    )
    return _locked(locked_ms, now_ms)


def _locked(locked_ms: int, now_ms: int, what: str = "wrong PINs") -> Fields:
    minutes = max(1, -(-(locked_ms - now_ms) // MINUTE_MS))
    return refused("locked", f"too many {what}: try again in {minutes} min")


def _wrong_card(
    conn: Connection, request: sm.StaffRequest, op: sm.StaffCardLogin, now_ms: int
) -> Fields:
    actor = _actor(request)
    details = {"card": op.card_id, "uid": op.uid}
    admin.audit(conn, actor, "staff.card_login_failed", request.staff, details)
    locked_ms = card_tries.record_card_failure(conn, op.card_id, request.device, now_ms)
    if not locked_ms:
        return refused("unknown_staff", f"card {op.card_id} is not {request.staff}'s")
    admin.audit(conn, actor, "staff.card_locked", request.staff, {**details, "until_ms": locked_ms})
    log.warning("card logins of %s at %s locked: too many refused", op.card_id, request.device)
    return _locked(locked_ms, now_ms, "refused card logins")


def card_login(
    conn: Connection, request: sm.StaffRequest, op: sm.StaffCardLogin, branch: str, now_ms: int
) -> Fields:
    """A staff card the terminal verified: the hub's challenge makes it one-time. Lock
    first (hub/staff_card_tries.py), then the challenge, then the card."""
    actor = _actor(request)
    locked_ms = card_tries.card_locked_until(conn, op.card_id, request.device, now_ms)
    if locked_ms:
        admin.audit(conn, actor, "staff.card_login_locked", request.staff, {"card": op.card_id})
        return _locked(locked_ms, now_ms, "card logins")
    if not sessions.take_challenge(conn, request.device, op.challenge, now_ms):
        admin.audit(conn, actor, "staff.login_replayed", request.staff)
        return refused("invalid", "the login challenge is unknown, used or expired: try again")
    row = _active_row(conn, request.staff, branch)
    denied = conn.execute(
        sa.select(db.denylist.c.card_id).where(db.denylist.c.card_id == op.card_id)
    ).first()
    if row is None or op.card_id != staff_card_id(row.id) or denied is not None:
        return _wrong_card(conn, request, op, now_ms)
    card_tries.clear_card_failures(conn, op.card_id)
    admin.audit(conn, actor, "staff.card_login", row.id, {"uid": op.uid})
    return _session_fields(conn, row, request.device, now_ms)


def _session_fields(conn: Connection, row: Any, device_id: str, now_ms: int) -> Fields:
    role = StaffRole(row.role)
    token, expires_ms = sessions.open_session(conn, row.id, device_id, role, now_ms)
    return {
        "name": row.name,
        "role": role.value,
        "session": token,
        "session_expires_ms": expires_ms,
    }
