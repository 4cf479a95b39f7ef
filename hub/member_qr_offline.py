"""Member QR codes the devices took offline, as their intents bring them to the hub.

A device without the hub checks a TCM2 code's signature itself and takes it once there
(tapcard/device/member_codes.py); the intents it then books for the card carry the code
(`TxIntent.member_code`). The device's word is not trusted beyond what it proves: the
hub checks the code again (the issuer's signature, the intent's card) and records its
nonce in `member_qr_nonces` with the device that took it, so the same code is refused
online afterwards. A code the hub or another device took already, or one that does not
hold, is booked with an exception for HQ (`member_code_twice`, `member_code_invalid`):
like an offline tap, the intent itself is decided by the offline policy, whose caps
bound what one card, and so one code shown at several places, can spend.

One row per code, whatever the number of intents that carry it, so a device cannot
make the hub write more than its intents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import sqlalchemy as sa
from nacl.signing import VerifyKey
from sqlalchemy.engine import Connection

from hub import db
from tapcard.cards import member_code as code
from tapcard.domain.model import Asset
from tapcard.wire.messages import TxIntent

EXCEPTION_TWICE: Final = "member_code_twice"
EXCEPTION_INVALID: Final = "member_code_invalid"
ONLINE: Final = ""  # member_qr_nonces.device_id of a code the hub took itself

ExceptionRow = tuple[str, Asset, int, str]  # as hub/decide.py's Decision.exceptions


@dataclass(slots=True)
class OfflineCodes:
    """The batch's member codes: who took each one before, and the rows to add."""

    issuer_key: VerifyKey | None = None
    taken_by: dict[str, str] = field(default_factory=dict)  # nonce -> device id, or ONLINE
    rows: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def load(
        cls, conn: Connection, intents: Sequence[TxIntent], issuer_key: VerifyKey
    ) -> OfflineCodes:
        book = cls(issuer_key)
        nonces = sorted(
            {p.nonce for i in intents if i.member_code and (p := code.parse(i.member_code))}
        )
        if nonces:
            n = db.member_qr_nonces
            found = conn.execute(sa.select(n.c.nonce, n.c.device_id).where(n.c.nonce.in_(nonces)))
            book.taken_by = {nonce: device for nonce, device in found}
        return book

    def check(self, intent: TxIntent, now_ms: int) -> list[ExceptionRow]:
        """What HQ should know of the code an intent carries, its nonce noted as taken."""
        if not intent.member_code:
            return []
        assert self.issuer_key is not None, "load the book before checking"
        parts = code.parse(intent.member_code)
        holds = parts is not None and code.signature_holds(parts, [self.issuer_key])
        if parts is None or not holds or parts.card_id != intent.card_id or not intent.offline:
            detail = f"device {intent.device} sent a member code that does not hold"
            return [(EXCEPTION_INVALID, Asset.CENTS, 0, detail)]
        before = self.taken_by.get(parts.nonce)
        if before is None:
            self.taken_by[parts.nonce] = intent.device
            self.rows.append(
                {
                    "nonce": parts.nonce,
                    "card_id": parts.card_id,
                    "expires_ms": parts.expires_ms,
                    "used_ms": now_ms,
                    "device_id": intent.device,
                }
            )
            return []
        if before == intent.device:  # more intents of the same scan
            return []
        where = "online at the hub" if before == ONLINE else f"offline at device {before}"
        detail = f"member code taken offline at device {intent.device}, and {where}"
        return [(EXCEPTION_TWICE, Asset.CENTS, 0, detail)]

    def write(self, conn: Connection) -> None:
        db.bulk_insert(conn, db.member_qr_nonces, self.rows)
