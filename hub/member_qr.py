"""The dynamic member QR code: the member's page shows it instead of a card.

A code names the card, when it stops being good (60 s after it is made) and a random
nonce, and carries an HMAC-SHA256 over them with a key derived from the hub's secret
(hub/secrets.py), so only the hub can make one and nothing in it can be changed. The
hub takes a code once: `redeem` records the nonce in `member_qr_nonces`, and a second
scan of the same code is refused as used; a code past its time is refused as expired
whether or not it was used. The gates' HTTP endpoint (hub/gates_http.py) and the
terminal's staff channel call `redeem` to turn a scanned code into the card, then go on
as they would for a tapped card (its state is checked there, as a card's is).

Text form: `TCM1.<card>.<expires_s>.<nonce>.<mac>` (base64url without padding), short
enough for a QR of version 4 and a gate's code field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hub import db
from hub.secrets import HubSecrets
from tapcard.errors import TapcardError

PREFIX: Final = "TCM1"
LIFETIME_MS: Final = 60_000
NONCE_BYTES: Final = 8
MAC_BYTES: Final = 12  # 96 bits: a forgery needs 2**96 tries, each a scan at a gate
CODE_CHARS_MAX: Final = 96


class MemberQrRefused(TapcardError):
    """A scanned member code the hub does not take; `reason` is a stable word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MemberQr:
    text: str
    card_id: str
    expires_ms: int


@dataclass(frozen=True, slots=True)
class Redeemed:
    card_id: str
    member_id: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key(keys: HubSecrets) -> bytes:
    return hmac.new(keys.secret, b"member-qr", hashlib.sha256).digest()


def _mac(keys: HubSecrets, body: str) -> str:
    return _b64(hmac.new(_key(keys), body.encode(), hashlib.sha256).digest()[:MAC_BYTES])


def is_member_qr(text: str) -> bool:
    return text.strip().startswith(PREFIX + ".")


def make(keys: HubSecrets, card_id: str, now_ms: int) -> MemberQr:
    """A fresh code for the card, good for LIFETIME_MS from now."""
    expires_ms = now_ms + LIFETIME_MS
    # Whole seconds in the text; rounded down so the code never lives past 60 s.
    body = f"{PREFIX}.{card_id}.{expires_ms // 1000}.{_b64(secrets.token_bytes(NONCE_BYTES))}"
    return MemberQr(f"{body}.{_mac(keys, body)}", card_id, expires_ms // 1000 * 1000)


def _parse(keys: HubSecrets, text: str) -> tuple[str, int, str]:
    parts = text.strip().split(".")
    if len(text) > CODE_CHARS_MAX or len(parts) != 5 or parts[0] != PREFIX:
        raise MemberQrRefused("invalid", "this is not a member code of this hub")
    body = ".".join(parts[:4])
    if not hmac.compare_digest(_mac(keys, body), parts[4]) or not parts[2].isdigit():
        raise MemberQrRefused("invalid", "this is not a member code of this hub")
    return parts[1], int(parts[2]) * 1000, parts[3]


def _good(keys: HubSecrets, text: str, now_ms: int) -> tuple[str, int, str]:
    card_id, expires_ms, nonce = _parse(keys, text)
    if now_ms >= expires_ms:
        raise MemberQrRefused("qr_expired", "this member code has expired: refresh the page")
    return card_id, expires_ms, nonce


def peek(keys: HubSecrets, text: str, now_ms: int) -> str:
    """The card a good, unexpired code names, recording nothing (a gate's /check)."""
    return _good(keys, text, now_ms)[0]


def redeem(conn: Connection, keys: HubSecrets, text: str, now_ms: int) -> Redeemed:
    """Take a scanned code once: the card and its member, or MemberQrRefused.

    The nonce's row is inserted in the caller's transaction, so a code is used only
    when what it was scanned for commits; two scans racing meet the primary key."""
    card_id, expires_ms, nonce = _good(keys, text, now_ms)
    c = db.cards
    member = conn.execute(sa.select(c.c.member_id).where(c.c.id == card_id)).scalar()
    if member is None:
        raise MemberQrRefused("card_unknown", "the card this code names is not known")
    n = db.member_qr_nonces
    savepoint = conn.begin_nested()
    try:
        conn.execute(
            n.insert().values(nonce=nonce, card_id=card_id, expires_ms=expires_ms, used_ms=now_ms)
        )
    except IntegrityError:
        savepoint.rollback()
        raise MemberQrRefused("qr_used", "this member code was already used") from None
    savepoint.commit()
    return Redeemed(card_id, int(member))


def prune(conn: Connection, now_ms: int) -> int:
    """Forget the nonces of codes that expired: they are refused on their time alone."""
    n = db.member_qr_nonces
    return conn.execute(n.delete().where(n.c.expires_ms < now_ms)).rowcount or 0


def card_of_member(conn: Connection, member_id: int) -> str | None:
    """The member's usable card, the one a page shows a code for (the newest active)."""
    c = db.cards
    return conn.execute(
        sa.select(c.c.id)
        .where(c.c.member_id == member_id, c.c.state == "active")
        .order_by(c.c.id.desc())
        .limit(1)
    ).scalar()
