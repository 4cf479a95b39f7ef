"""The dynamic member QR code: the member's page shows it instead of a card.

A code names the card, when it stops being good (60 s after it is made) and a random
nonce, signed with the issuer's key (hub/secrets.py; its form and signature are
tapcard/cards/member_code.py), so only the hub can make one, nothing in it can be
changed, and a device can check it offline with the issuer's public key. Codes of the
first form (TCM1, an HMAC under a key derived from the hub's secret) are still taken:
a page loaded before the upgrade shows one for up to a minute. The hub takes a code
once: `redeem` records the nonce in `member_qr_nonces`, and a second
scan of the same code is refused as used; a code past its time is refused as expired
whether or not it was used. The gates' HTTP endpoint (hub/gates_http.py) and the
terminal's staff channel call `redeem` to turn a scanned code into the card, then go on
as they would for a tapped card (its state is checked there, as a card's is).

A code a device took offline reaches the hub on the intents it booked
(`TxIntent.member_code`, hub/member_qr_offline.py); its nonce is then recorded here
too, so the same code is not taken online afterwards.
"""

from __future__ import annotations

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
from tapcard.cards import member_code as code
from tapcard.cards.member_code import CodeParts
from tapcard.errors import TapcardError

LIFETIME_MS: Final = code.LIFETIME_MS
CODE_CHARS_MAX: Final = code.CODE_CHARS_MAX
MAC_BYTES: Final = 12  # TCM1's 96 bits: a forgery needs 2**96 tries, each a scan at a gate
# A nonce is kept this long past its code's end: a code a device took offline arrives
# with its intents when the link is back, and is checked against the ones taken here.
NONCE_KEPT_MS: Final = 30 * 86_400_000


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


def _key(keys: HubSecrets) -> bytes:
    return hmac.new(keys.secret, b"member-qr", hashlib.sha256).digest()


def _mac(keys: HubSecrets, body: str) -> str:
    return code.b64(hmac.new(_key(keys), body.encode(), hashlib.sha256).digest()[:MAC_BYTES])


def is_member_qr(text: str) -> bool:
    return code.is_member_code(text)


def make(keys: HubSecrets, card_id: str, now_ms: int) -> MemberQr:
    """A fresh code for the card, good for LIFETIME_MS from now."""
    text = code.sign(keys.issuer_key, card_id, now_ms, secrets.token_bytes(code.NONCE_BYTES))
    return MemberQr(text, card_id, (now_ms + LIFETIME_MS) // 1000 * 1000)


def genuine(keys: HubSecrets, text: str) -> CodeParts | None:
    """The code's fields when the hub made it (either form), else None."""
    parts = code.parse(text)
    if parts is None:
        return None
    if parts.signed:
        return parts if code.signature_holds(parts, [keys.issuer_key.verify_key]) else None
    return parts if hmac.compare_digest(_mac(keys, parts.body), parts.tag) else None


def _good(keys: HubSecrets, text: str, now_ms: int) -> tuple[str, int, str]:
    parts = genuine(keys, text)
    if parts is None:
        raise MemberQrRefused("invalid", "this is not a member code of this hub")
    if now_ms >= parts.expires_ms:
        raise MemberQrRefused("qr_expired", "this member code has expired: refresh the page")
    return parts.card_id, parts.expires_ms, parts.nonce


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
    """Forget the nonces of codes that ended NONCE_KEPT_MS ago: such a code is refused on
    its time alone, and a device's offline use of it has long reached the hub."""
    n = db.member_qr_nonces
    return conn.execute(n.delete().where(n.c.expires_ms < now_ms - NONCE_KEPT_MS)).rowcount or 0


def card_of_member(conn: Connection, member_id: int) -> str | None:
    """The member's usable card, the one a page shows a code for (the newest active)."""
    c = db.cards
    return conn.execute(
        sa.select(c.c.id)
        .where(c.c.member_id == member_id, c.c.state == "active")
        .order_by(c.c.id.desc())
        .limit(1)
    ).scalar()
