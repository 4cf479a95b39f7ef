"""Login throttling that an attacker cannot turn against the real user.

Locking an account for everyone after a few wrong passwords would let anyone lock out
anyone (the admin included) from anywhere, just by guessing. So, as OWASP advises
(slow brute force protection with device cookies), there are three counts:

- per (account, address): LOGIN_TRIES_MAX wrong passwords for one name from one
  address within LOGIN_WINDOW_S lock that pair for LOGIN_LOCKOUT_S. The guesser is
  locked; the same account from anywhere else is not.
- per address: LOGIN_ADDR_TRIES_MAX failures (any names) lock the address (higher: an
  office behind one NAT shares it).
- per account, across all addresses: past LOGIN_ACCOUNT_TRIES_MAX failures within the
  window the account is slowed, not locked: each further try from an unknown browser
  must wait LOGIN_SLOW_S after the last failure, doubling to LOGIN_SLOW_S_MAX. A
  botnet gets a few tries an hour; nobody is shut out for good.

A browser that logged in to an account before carries a known-login cookie for it
(KNOWN_COOKIE: a random id and when it was issued, HMAC-signed with a key derived from
the hub's secret, KNOWN_LOGIN_S long). For that account the cookie exempts it from the
three counts above; it has its own, LOGIN_TRIES_MAX wrong passwords lock the cookie
(a stolen cookie gives no more guesses). So the real user on their own browser logs in
while an attacker elsewhere is locked or slowed.

Each failure counts whether or not the account exists (a lock tells nothing about
which names are real). While locked or slowed, the password is not even checked. A
successful login clears its pair's and its cookie's count, never the address's or the
account-wide one (one valid login must not reset an attacker's count).

The counts live in `web_login_failures`, so a lock survives a restart and holds for
every dashboard worker on the database; time is the hub's clock (db.now_ms). Every
failure, every lock and every refused try is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.web import auth

LOGIN_TRIES_MAX: Final = 5  # wrong passwords per account and address, or per cookie
LOGIN_ADDR_TRIES_MAX: Final = 20  # per client address within the window
LOGIN_ACCOUNT_TRIES_MAX: Final = 10  # per account from unknown browsers: then slowed
LOGIN_WINDOW_S: Final = 15 * 60
LOGIN_LOCKOUT_S: Final = 15 * 60
LOGIN_SLOW_S: Final = 30  # the first wait of a slowed account, doubling per failure
LOGIN_SLOW_S_MAX: Final = 5 * 60
KNOWN_COOKIE: Final = "tapcard_known"
KNOWN_LOGIN_S: Final = 90 * 24 * 3600  # a browser stays known this long after a login
KNOWN_ID_BYTES: Final = 16
MS_PER_S: Final = 1000
ADDRESS_LEN_MAX: Final = 150  # a client address as the server saw it; IPv6 fits
COOKIE_LEN_MAX: Final = 200

assert 1 < LOGIN_TRIES_MAX < LOGIN_ACCOUNT_TRIES_MAX <= LOGIN_ADDR_TRIES_MAX
assert LOGIN_WINDOW_S > 0 and LOGIN_LOCKOUT_S > 0
assert 0 < LOGIN_SLOW_S <= LOGIN_SLOW_S_MAX < LOGIN_LOCKOUT_S


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a login attempt came to: a user (and the known-login cookie to set), or
    None with how long the lock or the slowdown lasts."""

    user: auth.User | None
    locked_s: int = 0  # > 0: refused without a check, locked for this long yet
    known: str = ""  # with a user: the new known-login cookie for this browser


def locked_text(locked_s: int) -> str:
    """The page's words for a lockout: the same whether or not the account exists."""
    minutes = max(1, math.ceil(locked_s / 60))
    return f"登录尝试次数过多: 请 {minutes} 分钟后再试 / too many tries: try again in {minutes} min"


WRONG_TEXT: Final = "用户名或密码错误 / wrong username or password"


def known_key(secret: bytes) -> bytes:
    """The key of known-login cookies, derived from the hub's secret."""
    return hmac.new(secret, b"web-known-login", hashlib.sha256).digest()


def _mac(key: bytes, username: str, known_id: str, issued_ms: int) -> str:
    text = f"{username}\n{known_id}\n{issued_ms}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def known_cookie(key: bytes, username: str, now_ms: int) -> str:
    """A known-login cookie for `username` on this browser: id.issued_ms.mac."""
    known_id = secrets.token_urlsafe(KNOWN_ID_BYTES)
    return f"{known_id}.{now_ms}.{_mac(key, username, known_id, now_ms)}"


def known_id(key: bytes, username: str, cookie: str, now_ms: int) -> str:
    """The browser's id if `cookie` is a valid, unexpired known login of `username`."""
    parts = cookie[:COOKIE_LEN_MAX].split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return ""
    given_id, issued_ms, mac = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(mac, _mac(key, username, given_id, issued_ms)):
        return ""
    return given_id if 0 <= now_ms - issued_ms < KNOWN_LOGIN_S * MS_PER_S else ""


def _pair_key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username}\n{address}".encode()).hexdigest()
    return f"pair:{digest}"  # a name and an IPv6 address would not fit the key


def attempt(
    conn: Connection, username: str, password: str, address: str, known: str, key: bytes
) -> Outcome:
    """One login attempt, in the caller's (writer) transaction. `known` is the
    browser's known-login cookie ("" for none), `key` that of known_key."""
    now = db.now_ms(conn)
    address = address[:ADDRESS_LEN_MAX]
    browser = known_id(key, username, known, now)
    if browser:
        hard = [(f"known:{browser}", LOGIN_TRIES_MAX)]
        slow = ""
    else:
        hard = [(_pair_key(username, address), LOGIN_TRIES_MAX)]
        hard.append((f"addr:{address}", LOGIN_ADDR_TRIES_MAX))
        slow = f"user:{username}"
    actor = f"web:{username[:60]}"
    until = _locked_until(conn, [k for k, _ in hard] + ([slow] if slow else []))
    if until > now:
        audit(conn, actor, "user.login_locked", username[:128], {"address": address})
        return Outcome(None, math.ceil((until - now) / MS_PER_S))
    user = auth.check_password(conn, username, password)
    if user is not None:
        t = db.web_login_failures
        conn.execute(t.delete().where(t.c.key.in_([hard[0][0]])))
        return Outcome(user, known=known_cookie(key, username, now))
    audit(conn, actor, "user.login_failed", username[:128], {"address": address})
    _prune(conn, now)
    for name, tries_max in hard:
        if _count_failure(conn, name, tries_max, now):
            audit(conn, actor, "user.lockout", name, {"for_s": LOGIN_LOCKOUT_S})
    if slow:
        wait_s = _count_account(conn, slow, now)
        if wait_s:
            audit(conn, actor, "user.slowed", slow, {"for_s": wait_s, "address": address})
    return Outcome(None)


def _locked_until(conn: Connection, keys: list[str]) -> int:
    t = db.web_login_failures
    found = conn.execute(
        sa.select(sa.func.max(t.c.locked_until_ms)).where(t.c.key.in_(keys))
    ).scalar()
    return int(found or 0)


def _row(conn: Connection, key: str, now: int) -> sa.Row[tuple[object, ...]]:
    """The key's row, made if missing (workers racing on it both succeed), locked for
    the update."""
    t = db.web_login_failures
    blank = {"key": key, "failures": 0, "window_start_ms": now, "locked_until_ms": 0}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(t).values(**blank).on_conflict_do_nothing())
    return conn.execute(sa.select(t).where(t.c.key == key).with_for_update()).one()


def _count_failure(conn: Connection, key: str, tries_max: int, now: int) -> bool:
    """Counts one failure of a hard-locking `key`; True if that starts a lockout."""
    t = db.web_login_failures
    row = _row(conn, key, now)
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


def _count_account(conn: Connection, key: str, now: int) -> int:
    """Counts one failure of an account from an unknown browser; past the account's
    limit the next such try waits (seconds returned, 0 below the limit). The count
    keeps going while the failures do, so the wait grows to LOGIN_SLOW_S_MAX."""
    t = db.web_login_failures
    row = _row(conn, key, now)
    expired = now - row.window_start_ms >= LOGIN_WINDOW_S * MS_PER_S
    failures, start = (1, now) if expired else (row.failures + 1, row.window_start_ms)
    over = failures - LOGIN_ACCOUNT_TRIES_MAX
    wait_s = 0 if over < 0 else min(LOGIN_SLOW_S_MAX, LOGIN_SLOW_S * 2 ** min(over, 16))
    conn.execute(
        t.update()
        .where(t.c.key == key)
        .values(
            failures=failures,
            # A slowed account's window runs on from its last failure.
            window_start_ms=now if wait_s else start,
            locked_until_ms=now + wait_s * MS_PER_S if wait_s else 0,
        )
    )
    return wait_s


def _prune(conn: Connection, now: int) -> None:
    """Rows whose window and lock are both over count for nothing: dropped, so the
    table holds only the last window's names and addresses."""
    t = db.web_login_failures
    conn.execute(
        t.delete().where(
            t.c.window_start_ms < now - LOGIN_WINDOW_S * MS_PER_S, t.c.locked_until_ms < now
        )
    )


def locked_s(conn: Connection, key: str) -> int:
    """Seconds `key` (a caller's own prefix, e.g. the gates' HTTP endpoint's) stays
    locked, 0 if it is not: the same table and clock as the logins."""
    now = db.now_ms(conn)
    until = _locked_until(conn, [key])
    return math.ceil((until - now) / MS_PER_S) if until > now else 0


def count_failure(conn: Connection, key: str, tries_max: int) -> bool:
    """One failure of `key` within LOGIN_WINDOW_S; True if it starts a LOGIN_LOCKOUT_S lock."""
    now = db.now_ms(conn)
    _prune(conn, now)
    return _count_failure(conn, key, tries_max, now)
