"""A member's tags at the counter, through the hub: a manager adds a tag typed in the
home screen's field to the member on the reader after a confirmation naming the member
and the tag, and takes it off again; each change is one audit row; a tag out of bounds
is refused at the counter before anything is sent; a cashier is refused by the hub.
A real terminal presenter against a real hub over mosquitto."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub import db, tags
from tests.terminal.conftest import PIN, Till


def _login(till: Till, staff: str, card_index: int = 0) -> None:
    till.presenter.login(staff, PIN)
    till.wait("home", "login")
    till.tap(till.rig.seeded.cards[card_index])
    till.card_ready()


def _tags(till: Till, member_index: int = 0) -> list[str]:
    with till.rig.seeded.hub.engine.connect() as conn:
        return tags.tags_of(conn, till.rig.seeded.members[member_index])


def _audit(till: Till) -> list[Any]:
    with till.rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.audit.c.actor, db.audit.c.action, db.audit.c.target)
            .where(db.audit.c.action.like("member.tag.%"))
            .order_by(db.audit.c.id)
        )
        return [tuple(r) for r in rows]


def test_a_manager_adds_and_removes_a_tag_after_confirming(till: Till) -> None:
    p, seeded = till.presenter, till.rig.seeded
    _login(till, "ann")
    p.tags.add_tag("  洗车常客 ")  # spaces typed at the ends are dropped
    view = till.wait("confirm")
    assert view.title == "Add this tag?"
    assert view.member.endswith(seeded.cards[0]) and "*" in view.member
    assert view.lines == ("Tag: 洗车常客", "The tag is added to the member.")
    assert _tags(till) == []  # nothing before Confirm
    p.confirms.confirm()
    done = till.wait("receipt")
    assert done.title == "Tag added" and done.lines == ("Tag: 洗车常客", "Tags: 洗车常客")
    assert _tags(till) == ["洗车常客"]

    p.home()
    p.tags.add_tag("VIP")
    till.wait("confirm")
    p.confirms.confirm()
    wait = till.wait("receipt")
    assert wait.lines[-1] == "Tags: VIP, 洗车常客"

    p.home()
    p.tags.remove_tag("洗车常客")
    view = till.wait("confirm")
    assert view.title == "Remove this tag?" and "The tag is taken off the member." in view.lines
    p.confirms.cancel()  # Cancel: the tag stays
    assert p.screen == "home" and _tags(till) == ["VIP", "洗车常客"]
    p.tags.remove_tag("洗车常客")
    till.wait("confirm")
    p.confirms.confirm()
    done = till.wait("receipt")
    assert done.title == "Tag removed" and done.lines[-1] == "Tags: VIP"
    member = str(seeded.members[0])
    assert _audit(till) == [
        ("staff:ann@till-1", "member.tag.add", member),
        ("staff:ann@till-1", "member.tag.add", member),
        ("staff:ann@till-1", "member.tag.remove", member),
    ]


def test_a_tag_out_of_bounds_is_refused_at_the_counter(till: Till) -> None:
    p = till.presenter
    _login(till, "ann")
    for typed in ("", "   ", "x" * 25, "a\tb\n"):
        p.home()
        p.tags.add_tag(typed)
        message = till.wait("message")
        assert message.detail == "A tag is 1-24 characters", typed
    p.home()
    p.tags.add_tag("x" * 24)
    assert till.wait("confirm").lines[0] == "Tag: " + "x" * 24
    p.set_language("zh")
    zh = till.wait("confirm")  # the same confirmation, redrawn in Chinese
    assert zh.title == "添加此标签\uff1f" and zh.lines[1] == "将为该会员添加此标签。"
    p.confirms.cancel()
    assert _tags(till) == [] and _audit(till) == []


def test_a_cashier_is_refused_by_the_hub(till: Till) -> None:
    p = till.presenter
    _login(till, "bob")
    p.tags.add_tag("VIP")
    till.wait("confirm")
    p.confirms.confirm()
    refused = till.wait("message")
    assert refused.title == "A manager must do this"
    assert _tags(till) == [] and _audit(till) == []
