"""The member portal's tables (migration 0028), defined on the hub's metadata by `hub.db`.

- `portal_codes`: the one-time login codes sent by SMS, kept as a keyed hash only; a
  code is used once (`used_ms`) and lives five minutes (`expires_ms`); 0029 adds the
  address that asked, when it was sent and the wrong tries made against it; since 0034
  `phone` holds the phone's blind index (hub/privacy_keys.py), never the phone.
- `member_qr_nonces`: the nonce of each dynamic member QR code the hub accepted, so a
  scanned code is taken once; rows past their expiry can be pruned (a code that old is
  refused on its time alone). 0035 adds `device_id`: the device that took the code
  offline (hub/member_qr_offline.py), "" when the hub took it.
- `close_requests`: a member's request to close the account, for HQ to act on; 0033
  adds HQ's answer (done or declined, by whom, when, the reason for declining).
"""

from __future__ import annotations

import sqlalchemy as sa


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    codes = sa.Table(
        "portal_codes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(32), nullable=False),  # the phone's blind index (0034)
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("used_ms", sa.BigInteger, nullable=True),
        # 0029: who asked, when, and the wrong tries against the code (hub/portal_login.py)
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.Column("sent_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Index("portal_codes_phone", "phone", "id"),
        sa.Index("portal_codes_address", "address", "sent_ms"),
    )
    nonces = sa.Table(
        "member_qr_nonces",
        metadata,
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("card_id", sa.String(32), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("used_ms", sa.BigInteger, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False, server_default=""),
    )
    closes = sa.Table(
        "close_requests",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),  # open, then done or declined
        # 0033: HQ's answer (hub/portal_close.py): who, when, and why it was declined
        sa.Column("decided_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("decided_ms", sa.BigInteger, nullable=True),
        sa.Column("answer", sa.String(500), nullable=False, server_default=""),
        sa.Index("close_requests_member", "member_id", "id"),
    )
    return codes, nonces, closes
