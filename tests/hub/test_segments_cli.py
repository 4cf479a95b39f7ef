"""`tapcard hub segment ...` and `tapcard hub member tag ...` as HQ staff use them: tags
added and removed (each change audited), a segment defined from them, previewed,
refreshed and listed in words and JSON; mistakes end in one `error:` line."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from hub import db
from tests.hub.test_cli import Cli, add_member, hub_cli, open_hub

__all__ = ["hub_cli"]  # the fixture, shared with test_cli


def test_tags_are_added_removed_and_audited(hub_cli: Cli) -> None:
    li = add_member(hub_cli, "Li Wei", "13800000001")
    out = hub_cli.ok("member", "tag", "add", str(li), "vip", "洗车", "vip")
    assert out == f"member {li}: added vip, 洗车; tags now: vip, 洗车\n"
    again = hub_cli.json("member", "tag", "add", str(li), "vip")
    assert again == {"member_id": li, "added": [], "tags": ["vip", "洗车"]}
    gone = hub_cli.json("member", "tag", "remove", str(li), "vip", "never-had")
    assert gone == {"member_id": li, "removed": ["vip"], "tags": ["洗车"]}
    assert hub_cli.error("member", "tag", "add", "999", "vip").startswith("error: member 999")
    assert "1-48 characters" in hub_cli.error("member", "tag", "add", str(li), "x" * 49)
    hub = open_hub(hub_cli)
    try:
        with hub.engine.connect() as conn:
            a = db.audit
            rows = conn.execute(
                sa.select(a.c.actor, a.c.action, a.c.detail)
                .where(a.c.target == str(li), a.c.action.like("member.tag.%"))
                .order_by(a.c.id)
            ).all()
    finally:
        hub.close()
    assert [(r.actor, r.action, json.loads(r.detail)["tag"]) for r in rows] == [
        ("test", "member.tag.add", "vip"),
        ("test", "member.tag.add", "洗车"),
        ("test", "member.tag.remove", "vip"),
    ]


def test_a_segment_from_add_to_members(hub_cli: Cli, tmp_path: Path) -> None:
    li = add_member(hub_cli, "Li Wei", "13800000001", "--tag", "vip")
    add_member(hub_cli, "Ana Silva", "13800000002")
    rules = '{"tags_any": ["vip"]}'
    out = hub_cli.ok("segment", "add", "vip", "--name", "贵宾 VIP", "--rules", rules)
    assert out == "segment vip added: 1 members match now (filled at the refresh)\n"
    assert hub_cli.ok("segment", "preview", "--rules", "{}") == "2 members match now\n"
    assert hub_cli.json("segment", "preview", "vip") == {"members": 1}
    [listed] = hub_cli.json("segment", "list")
    assert (listed["code"], listed["member_count"], listed["refreshed_ms"]) == ("vip", 0, 0)
    assert hub_cli.ok("segment", "refresh") == "segment vip: 1 members\n"
    assert hub_cli.json("segment", "members", "vip") == [
        {"member_id": li, "tier": "regular", "branch_id": None, "state": "active"}
    ]
    shown = hub_cli.json("segment", "show", "vip")
    assert (shown["member_count"], shown["matching_now_members"]) == (1, 1)
    assert "vip" in hub_cli.ok("segment", "list")
    file = tmp_path / "rfm.json"
    file.write_text('{"r_min": 4, "f_min": 3, "window_days": 30}', encoding="utf-8")
    added = hub_cli.json(
        "segment", "add", "loyal", "--name", "常客", "--rules", f"@{file}", "--refresh"
    )
    assert added == {"code": "loyal", "members": 0, "refreshed": True}


def test_segment_mistakes_are_one_line(hub_cli: Cli) -> None:
    assert "r score" in hub_cli.error("segment", "preview", "--rules", '{"r_min": 9}')
    assert "not JSON" in hub_cli.error("segment", "add", "x", "--name", "X", "--rules", "{")
    assert "no segment 'nope'" in hub_cli.error("segment", "show", "nope")
    assert "no segment 'nope'" in hub_cli.error("segment", "refresh", "nope")
    assert "--rules" in hub_cli.error("segment", "preview")
    assert "rules file" in hub_cli.error("segment", "preview", "--rules", "@/nonexistent.json")
    hub_cli.ok("segment", "add", "all", "--name", "Everyone")
    assert "exists already" in hub_cli.error("segment", "add", "all", "--name", "Again")
