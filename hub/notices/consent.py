"""Members' consent and contacts: nothing is sent to a member who did not agree.

Consent is per channel and purpose (PIPL: marketing only with consent, per channel), a
row per decision with the version of the terms and the time, so a withdrawal never
erases what was agreed before. The latest row decides. Contacts are the e-mail address
and WeChat openid (the phone is the member's own); each carries the member's language.
Every change is audited.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.members import require_member
from hub.notices.channels import ChannelName, Purpose
from tapcard.errors import ValidationError

MEMBER_CHANNELS = (ChannelName.EMAIL, ChannelName.SMS, ChannelName.WECHAT)
CONTACT_CHANNELS = (ChannelName.EMAIL, ChannelName.WECHAT)  # the phone is on the member row
TERMS_VERSION_CHARS_MAX = 32


def record_consent(
    conn: Connection,
    member_id: int,
    channel: ChannelName,
    purpose: Purpose,
    granted: bool,
    terms_version: str,
    actor: str,
) -> None:
    require_member(conn, member_id)
    if channel not in MEMBER_CHANNELS:
        raise ValidationError(f"consent is for {', '.join(MEMBER_CHANNELS)}")
    if not 1 <= len(terms_version) <= TERMS_VERSION_CHARS_MAX:
        raise ValidationError("name the version of the terms the member saw")
    conn.execute(
        db.member_consents.insert().values(
            member_id=member_id,
            channel=channel.value,
            purpose=purpose.value,
            granted=granted,
            terms_version=terms_version,
            at_ms=db.now_ms(conn),
            actor=actor,
        )
    )
    action = "member.consent" if granted else "member.consent_withdrawn"
    detail = {"channel": channel.value, "purpose": purpose.value, "terms": terms_version}
    audit(conn, actor, action, str(member_id), detail)


def consenting(
    conn: Connection, member_ids: Sequence[int], channel: ChannelName, purpose: Purpose
) -> set[int]:
    """The members whose latest decision for this channel and purpose is yes."""
    if not member_ids:
        return set()
    c = db.member_consents
    latest = (
        sa.select(c.c.member_id, sa.func.max(c.c.id).label("id"))
        .where(
            c.c.member_id.in_(list(member_ids)),
            c.c.channel == channel.value,
            c.c.purpose == purpose.value,
        )
        .group_by(c.c.member_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(c.c.member_id).join(latest, c.c.id == latest.c.id).where(c.c.granted.is_(True))
    )
    return {int(m) for m in rows.scalars()}


def set_contact(
    conn: Connection, member_id: int, channel: ChannelName, address: str, lang: str, actor: str
) -> None:
    require_member(conn, member_id)
    if channel not in CONTACT_CHANNELS:
        raise ValidationError(f"a contact is an {' or '.join(CONTACT_CHANNELS)} address")
    if lang not in ("zh", "en"):
        raise ValidationError("the language is zh or en")
    if channel is ChannelName.EMAIL and ("@" not in address or len(address) > 320):
        raise ValidationError(f"{address!r} is not an e-mail address")
    if channel is ChannelName.WECHAT and not 1 <= len(address) <= 64:
        raise ValidationError("a WeChat openid is 1-64 characters")
    t = db.member_contacts
    conn.execute(t.delete().where(t.c.member_id == member_id, t.c.channel == channel.value))
    conn.execute(
        t.insert().values(
            member_id=member_id,
            channel=channel.value,
            address=address,
            lang=lang,
            updated_ms=db.now_ms(conn),
        )
    )
    audit(conn, actor, "member.contact", str(member_id), {"channel": channel.value})


def addresses(
    conn: Connection, member_ids: Sequence[int], channel: ChannelName
) -> dict[int, tuple[str, str]]:
    """member -> (address, language) on a member channel, for those who have one."""
    if not member_ids:
        return {}
    ids = list(member_ids)
    t = db.member_contacts
    langs = {
        int(m): str(lang)
        for m, lang in conn.execute(
            sa.select(t.c.member_id, t.c.lang).where(t.c.member_id.in_(ids))
        )
    }
    if channel is ChannelName.SMS:
        m = db.members
        phones = conn.execute(sa.select(m.c.id, m.c.phone).where(m.c.id.in_(ids)))
        return {int(i): (str(p), langs.get(int(i), "zh")) for i, p in phones if p}
    rows = conn.execute(
        sa.select(t.c.member_id, t.c.address, t.c.lang).where(
            t.c.member_id.in_(ids), t.c.channel == channel.value
        )
    )
    return {int(i): (str(a), str(lang)) for i, a, lang in rows}
