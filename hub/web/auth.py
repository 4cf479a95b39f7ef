"""Dashboard users, roles, server-side sessions and CSRF tokens.

Roles: `admin` (HQ, everything), `manager` (one branch: sees and changes only it),
`auditor` (everything, read only). Passwords are argon2id hashes. A session cookie
holds a random token; the database keeps only its SHA-256, with the session's CSRF
token, which every POST must echo (form field `csrf` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from tapcard.errors import ConflictError, NotFoundError, ValidationError


class Role(enum.StrEnum):
    """What a dashboard user may do (hub only: counter staff have tapcard's StaffRole)."""

    ADMIN = "admin"  # HQ: sees and changes everything
    MANAGER = "manager"  # one branch: sees and changes only it
    AUDITOR = "auditor"  # sees everything, changes nothing


ROLES = tuple(Role)
PASSWORD_LEN_MIN = 10
USERNAME_LEN_MAX = 64
TOKEN_BYTES = 32

_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """Checked when the user does not exist, so a login takes as long either way. Made
    once, when the dashboard starts (create_app), not on import: the CLI imports this
    module for the role names and should not pay for a hash."""
    return _hasher.hash("tapcard-no-such-user")


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    branch_id: str | None
    csrf: str = ""

    def __post_init__(self) -> None:
        # Rows and callers may hand the role as its text; it is a Role from here on.
        object.__setattr__(self, "role", Role(self.role))

    @property
    def can_write(self) -> bool:
        return self.role in (Role.ADMIN, Role.MANAGER)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def branch_scope(self) -> str | None:
        """The only branch this user may see, or None for every branch."""
        return self.branch_id if self.role is Role.MANAGER else None

    @property
    def actor(self) -> str:
        return f"web:{self.username}"

    def sees_branch(self, branch_id: str | None) -> bool:
        return self.branch_scope is None or branch_id == self.branch_scope


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    conn: Connection, username: str, password: str, role: str, branch_id: str | None, actor: str
) -> None:
    if not username or len(username) > USERNAME_LEN_MAX or not username.isprintable():
        raise ValidationError(f"a username is 1-{USERNAME_LEN_MAX} printable characters")
    if role not in ROLES:
        raise ValidationError(f"role is one of {', '.join(ROLES)}")
    if len(password) < PASSWORD_LEN_MIN:
        raise ValidationError(f"a password has at least {PASSWORD_LEN_MIN} characters")
    if (role == Role.MANAGER) != (branch_id is not None):
        raise ValidationError("a branch manager needs a branch; other roles have none")
    if branch_id is not None:
        found = conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch_id))
        if found.first() is None:
            raise NotFoundError(f"branch {branch_id} does not exist")
    exists = conn.execute(
        sa.select(db.web_users.c.username).where(db.web_users.c.username == username)
    )
    if exists.first() is not None:
        raise ConflictError(f"user {username} exists")
    conn.execute(
        db.web_users.insert().values(
            username=username,
            password_hash=_hasher.hash(password),
            role=Role(role).value,
            branch_id=branch_id,
            created_ms=db.now_ms(conn),
            disabled=False,
        )
    )
    audit(conn, actor, "user.add", username, {"role": role, "branch": branch_id})


def list_users(conn: Connection) -> list[dict[str, object]]:
    u = db.web_users
    rows = conn.execute(
        sa.select(u.c.username, u.c.role, u.c.branch_id, u.c.created_ms, u.c.disabled).order_by(
            u.c.username
        )
    )
    return [dict(row._mapping) for row in rows]


def check_password(conn: Connection, username: str, password: str) -> User | None:
    row = conn.execute(sa.select(db.web_users).where(db.web_users.c.username == username)).first()
    stored = row.password_hash if row is not None else dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return User(row.username, Role(row.role), row.branch_id)


def open_session(conn: Connection, user: User, ttl_s: float) -> tuple[str, str]:
    """A new session for a user who logged in: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
    now = db.now_ms(conn)
    conn.execute(db.web_sessions.delete().where(db.web_sessions.c.expires_ms < now))
    conn.execute(
        db.web_sessions.insert().values(
            token_hash=_token_hash(token),
            username=user.username,
            csrf=csrf,
            created_ms=now,
            expires_ms=now + int(ttl_s * 1000),
        )
    )
    audit(conn, user.actor, "user.login", user.username)
    return token, csrf


def session_user(conn: Connection, token: str) -> User | None:
    if not token or len(token) > 128:
        return None
    s, u = db.web_sessions, db.web_users
    row = conn.execute(
        sa.select(u.c.username, u.c.role, u.c.branch_id, u.c.disabled, s.c.csrf, s.c.expires_ms)
        .join(u, u.c.username == s.c.username)
        .where(s.c.token_hash == _token_hash(token))
    ).first()
    if row is None or row.disabled or row.expires_ms < db.now_ms(conn):
        return None
    return User(row.username, Role(row.role), row.branch_id, row.csrf)


def close_session(conn: Connection, token: str) -> None:
    conn.execute(db.web_sessions.delete().where(db.web_sessions.c.token_hash == _token_hash(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected, given)
