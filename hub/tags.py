"""A member's tags added and removed after registration (issue 17): from the CLI, the
dashboard and a staff device, each change one audit row, so who tagged whom, when, is
in the trail that segments (hub/segments.py) are built on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.members import require_member
from tapcard.errors import ValidationError

TAG_CHARS_MAX: Final = 48  # db.member_tags.tag
TAGS_PER_MEMBER_MAX: Final = 64


def checked(tag: str) -> str:
    """The tag as stored (outer spaces dropped), or a ValidationError saying why not."""
    text = tag.strip()
    if not 1 <= len(text) <= TAG_CHARS_MAX:
        raise ValidationError(f"a tag is 1-{TAG_CHARS_MAX} characters, not {len(text)}")
    if any(not ch.isprintable() for ch in text):
        raise ValidationError(f"a tag has no control characters: {text!r}")
    return text


def tags_of(conn: Connection, member_id: int) -> list[str]:
    t = db.member_tags
    rows = conn.execute(sa.select(t.c.tag).where(t.c.member_id == member_id).order_by(t.c.tag))
    return list(rows.scalars())


def add_tags(conn: Connection, member_id: int, tags: Iterable[str], actor: str) -> list[str]:
    """The tags the member did not have yet, now added (one audit row each)."""
    require_member(conn, member_id)
    wanted = sorted({checked(tag) for tag in tags})
    have = set(tags_of(conn, member_id))
    new = [tag for tag in wanted if tag not in have]
    if len(have) + len(new) > TAGS_PER_MEMBER_MAX:
        raise ValidationError(f"a member has at most {TAGS_PER_MEMBER_MAX} tags")
    for tag in new:
        conn.execute(db.member_tags.insert().values(member_id=member_id, tag=tag))
        audit(conn, actor, "member.tag.add", str(member_id), {"tag": tag})
    return new


def remove_tags(conn: Connection, member_id: int, tags: Iterable[str], actor: str) -> list[str]:
    """The tags the member had, now removed (one audit row each)."""
    require_member(conn, member_id)
    have = set(tags_of(conn, member_id))
    gone = sorted({checked(tag) for tag in tags} & have)
    t = db.member_tags
    for tag in gone:
        conn.execute(t.delete().where(t.c.member_id == member_id, t.c.tag == tag))
        audit(conn, actor, "member.tag.remove", str(member_id), {"tag": tag})
    return gone
