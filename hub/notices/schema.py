"""The notices' tables (migration 0025), defined on the hub's metadata by `hub.db`.

`member_contacts`: where a member can be reached besides the phone on the member row:
an e-mail address, a WeChat openid. `member_consents`: what each member agreed to, per
channel and purpose, with the version of the terms and when (PIPL: marketing only with
consent, per channel; a withdrawal is a row too, so the history stays). `notices`: the
durable outbox. Each notice has a unique `key` made from what caused it (the transfer,
the day's greeting, the campaign and member), so planning the same event twice records
one notice: the intent to send is recorded exactly once. Delivery claims a row before it
sends and marks it after; a row left claimed by a process that died is tried again with
the same key, which every channel passes on as its idempotency key.

A contact's e-mail or openid, and a notice's address, body and template fields (which
hold the member's name) are sealed at rest as the member's name and phone are
(`Sealed`, migration 0034).
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.member_schema import Sealed, SealedText

NOTICE_KEY_CHARS = 128
CHANNEL_CHARS = 16
ADDRESS_CHARS_MAX = 320  # an e-mail address at its longest


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """(member_contacts, member_consents, notices) on `metadata`."""
    contacts = sa.Table(
        "member_contacts",
        metadata,
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("channel", sa.String(CHANNEL_CHARS), primary_key=True),  # email | wechat
        sa.Column("address", Sealed(ADDRESS_CHARS_MAX, "contact_address"), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False, default="zh"),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    consents = sa.Table(
        "member_consents",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("channel", sa.String(CHANNEL_CHARS), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),  # service | marketing
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("terms_version", sa.String(32), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Index("member_consents_member", "member_id", "channel", "purpose", "id"),
    )
    notices = sa.Table(
        "notices",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(NOTICE_KEY_CHARS), nullable=False, unique=True),
        sa.Column("member_id", sa.Integer, nullable=True),  # None: to HQ's systems (webhook)
        sa.Column("channel", sa.String(CHANNEL_CHARS), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("address", Sealed(ADDRESS_CHARS_MAX, "notice_address"), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", SealedText("notice_body"), nullable=False),
        sa.Column("data", SealedText("notice_data"), nullable=False),  # JSON: the template's fields
        # pending | sending | sent | dead (gave up after NOTICE_TRIES_MAX; HQ may replay)
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, default=0),
        sa.Column("due_ms", sa.BigInteger, nullable=False),  # not before (quiet hours, backoff)
        sa.Column("claimed_ms", sa.BigInteger, nullable=False, default=0),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("sent_ms", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False, default=""),
        sa.Index("notices_due", "state", "due_ms"),
    )
    return contacts, consents, notices
