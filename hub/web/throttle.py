"""Login throttling: wrong passwords lock an account, and an address, for a while.

Each failed login counts against the account name it tried (whether or not such an
account exists, so a lockout tells nothing about which names are real) and against
the client's address. LOGIN_TRIES_MAX failures of one name within LOGIN_WINDOW_S lock
that name for LOGIN_LOCKOUT_S; LOGIN_ADDR_TRIES_MAX failures from one address lock
the address (higher: an office behind one NAT shares it). While locked, the password
is not even checked. A successful login clears its account's count, never the
address's (one valid account must not reset an attacker's count).

The counts live in `web_login_failures`, so a lockout survives a restart and holds for
every dashboard worker on the database; time is the hub's clock (db.now_ms). Every
failure, every lock and every refused try is audited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.web import auth

LOGIN_TRIES_MAX: Final = 5  # wrong passwords per account name within the window
LOGIN_ADDR_TRIES_MAX: Final = 20  # per client address within the window
LOGIN_WINDOW_S: Final = 15 * 60
LOGIN_LOCKOUT_S: Final = 15 * 60
MS_PER_S: Final = 1000
ADDRESS_LEN_MAX: Final = 150  # a client address as the server saw it; IPv6 fits

assert 1 < LOGIN_TRIES_MAX < LOGIN_ADDR_TRIES_MAX
assert LOGIN_WINDOW_S > 0 and LOGIN_LOCKOUT_S > 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a login attempt came to: a user, or None with how long the lock lasts."""

    user: auth.User | None
    locked_s: int = 0  # > 0: refused without a check, locked for this long yet


def locked_text(locked_s: int) -> str:
    """The page's words for a lockout: the same whether or not the account exists."""
    minutes = max(1, math.ceil(locked_s / 60))
    return f"登录尝试次数过多: 请 {minutes} 分钟后再试 / too many tries: try again in {minutes} min"


WRONG_TEXT: Final = "用户名或密码错误 / wrong username or password"


def _keys(username: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
    return (f"user:{username}", LOGIN_TRIES_MAX), (f"addr:{address}", LOGIN_ADDR_TRIES_MAX)


def attempt(conn: Connection, username: str, password: str, address: str) -> Outcome:
    """One login attempt, in the caller's (writer) transaction."""
    now = db.now_ms(conn)
    address = address[:ADDRESS_LEN_MAX]
    keys = _keys(username, address)
    actor = f"web:{username[:60]}"
    until = _locked_until(conn, [key for key, _ in keys], now)
    if until > now:
        audit(conn, actor, "user.login_locked", username[:128], {"address": address})
        return Outcome(None, math.ceil((until - now) / MS_PER_S))
    user = auth.check_password(conn, username, password)
    if user is not None:
        t = db.web_login_failures
        conn.execute(t.delete().where(t.c.key == keys[0][0]))
        return Outcome(user)
    audit(conn, actor, "user.login_failed", username[:128], {"address": address})
    _prune(conn, now)
    for key, tries_max in keys:
        if _count_failure(conn, key, tries_max, now):
            audit(conn, actor, "user.lockout", key, {"for_s": LOGIN_LOCKOUT_S})
    return Outcome(None)


def _locked_until(conn: Connection, keys: list[str], now: int) -> int:
    t = db.web_login_failures
    found = conn.execute(
        sa.select(sa.func.max(t.c.locked_until_ms)).where(t.c.key.in_(keys))
    ).scalar()
    return int(found or 0)


def _count_failure(conn: Connection, key: str, tries_max: int, now: int) -> bool:
    """Counts one failure of `key`; True if that starts a lockout. The row is made
    if missing (workers racing on it both succeed) and then locked for the update."""
    t = db.web_login_failures
    blank = {"key": key, "failures": 0, "window_start_ms": now, "locked_until_ms": 0}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(t).values(**blank).on_conflict_do_nothing())
    row = conn.execute(sa.select(t).where(t.c.key == key).with_for_update()).one()
    expired = now - row.window_start_ms >= LOGIN_WINDOW_S * MS_PER_S
    lapsed = 0 < row.locked_until_ms <= now
    failures, start = (1, now) if expired or lapsed else (row.failures + 1, row.window_start_ms)
    locks = failures >= tries_max
    until = now + LOGIN_LOCKOUT_S * MS_PER_S if locks else 0
    conn.execute(
        t.update()
        .where(t.c.key == key)
        .values(
            failures=0 if locks else failures,
            window_start_ms=now if locks else start,
            locked_until_ms=until,
        )
    )
    return locks


def _prune(conn: Connection, now: int) -> None:
    """Rows whose window and lock are both over count for nothing: dropped, so the
    table holds only the last window's names and addresses."""
    t = db.web_login_failures
    conn.execute(
        t.delete().where(
            t.c.window_start_ms < now - LOGIN_WINDOW_S * MS_PER_S, t.c.locked_until_ms < now
        )
    )
