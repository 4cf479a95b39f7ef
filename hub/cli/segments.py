"""`tapcard hub segment add | preview | refresh | list | members | show` and
`tapcard hub member tag add | remove`: segments as data (hub/segments.py) and the tags
they read (hub/tags.py). Rules are JSON (`--rules '{"r_min": 4, "f_min": 3}'` or
`--rules @file.json`); people get counts in words, scripts --json."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from hub import db, segments, tags
from hub.cli.common import actor_of, add_command, open_hub, print_data
from tapcard.errors import ValidationError

MEMBERS_LISTED_DEFAULT: Final = 100


def _rules(text: str) -> segments.SegmentRules:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"cannot read the rules file: {exc.strerror}") from None
    return segments.parse(text)


def _say(args: argparse.Namespace, data: dict[str, Any], line: str) -> None:
    """--json: the data; else one line for a person."""
    if args.json:
        print_data(args, data)
    else:
        print(line)


def cmd_add(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    rules = _rules(args.rules)
    with hub.transaction() as conn:
        segments.add(conn, args.code, args.name, rules, actor_of(args))
        count = segments.refresh(conn, args.code) if args.refresh else segments.preview(conn, rules)
    done = "members in it now" if args.refresh else "members match now (filled at the refresh)"
    data = {"code": args.code, "members": count, "refreshed": bool(args.refresh)}
    _say(args, data, f"segment {args.code} added: {count:,} {done}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        if args.rules is None and args.code is None:
            raise ValidationError("give a segment's code or --rules")
        if args.rules is None:
            row = _row(conn, args.code)
            rules = segments.parse(str(row["rules"]))
        else:
            rules = _rules(args.rules)
        count = segments.preview(conn, rules)
    _say(args, {"members": count}, f"{count:,} members match now")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        if args.code:
            counts = {args.code: segments.refresh(conn, args.code)}
        else:
            counts = segments.refresh_all(conn)
    if args.json:
        print_data(args, counts)
    elif not counts:
        print("no segments to refresh")
    for code, count in counts.items() if not args.json else ():
        print(f"segment {code}: {count:,} members")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        rows = segments.listed(conn)
    columns = ["code", "name", "member_count", "refreshed_ms", "rules"]
    print_data(args, rows, columns)
    return 0


def _row(conn: sa.Connection, code: str) -> dict[str, Any]:
    s = db.segments
    row = conn.execute(sa.select(s).where(s.c.code == code)).mappings().first()
    if row is None:
        raise ValidationError(f"no segment {code!r}: see `tapcard hub segment list`")
    return dict(row)


def cmd_show(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.engine.connect() as conn:
        row = _row(conn, args.code)
        row["matching_now_members"] = segments.preview(conn, segments.parse(str(row["rules"])))
    print_data(args, row)
    return 0


def cmd_members(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    m, sm = db.members, db.segment_members
    with hub.engine.connect() as conn:
        _row(conn, args.code)
        query = (
            sa.select(m.c.id.label("member_id"), m.c.tier, m.c.branch_id, m.c.state)
            .join(sm, sm.c.member_id == m.c.id)
            .where(sm.c.segment_code == args.code)
            .order_by(m.c.id)
            .limit(args.limit)
        )
        rows = [dict(r._mapping) for r in conn.execute(query)]
    print_data(args, rows)
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    change = tags.add_tags if args.tag_cmd == "add" else tags.remove_tags
    with hub.transaction() as conn:
        changed = change(conn, args.member_id, args.tags, actor_of(args))
        now = tags.tags_of(conn, args.member_id)
    done = "added" if args.tag_cmd == "add" else "removed"
    data = {"member_id": args.member_id, done: changed, "tags": now}
    line = f"member {args.member_id}: {done} {', '.join(changed) or 'nothing'}; tags now: "
    _say(args, data, line + (", ".join(now) or "none"))
    return 0


def register(cmds: Any) -> None:
    seg = cmds.add_parser("segment", help="segments of members, as data").add_subparsers(
        dest="segment_cmd", required=True
    )
    rules_help = 'rules as JSON, or @file.json (e.g. \'{"r_min": 4, "f_min": 3}\')'
    add = add_command(seg, "add", cmd_add, "define a segment (audited)", read=True)
    add.add_argument("code")
    add.add_argument("--name", required=True)
    add.add_argument("--rules", default="{}", help=rules_help)
    add.add_argument("--refresh", action="store_true", help="fill its members now")
    preview = add_command(seg, "preview", cmd_preview, "count who matches now", read=True)
    preview.add_argument("code", nargs="?", help="a saved segment (or give --rules)")
    preview.add_argument("--rules", help=rules_help)
    refresh = add_command(seg, "refresh", cmd_refresh, "refill one or every segment", read=True)
    refresh.add_argument("code", nargs="?", help="default: every segment")
    add_command(seg, "list", cmd_list, "the segments and their counts", read=True)
    show = add_command(seg, "show", cmd_show, "a segment's rules and counts", read=True)
    show.add_argument("code")
    members = add_command(seg, "members", cmd_members, "who is in a segment", read=True)
    members.add_argument("code")
    members.add_argument("--limit", type=int, default=MEMBERS_LISTED_DEFAULT)


def register_member(member: Any) -> None:
    """`member tag add|remove MEMBER_ID TAG...` under the member commands."""
    tag = member.add_parser("tag", help="add or remove a member's tags (audited)")
    tag_cmds = tag.add_subparsers(dest="tag_cmd", required=True)
    for name, what in (("add", "add tags to a member"), ("remove", "remove a member's tags")):
        cmd = add_command(tag_cmds, name, cmd_tag, what, read=True)
        cmd.add_argument("member_id", type=int)
        cmd.add_argument("tags", nargs="+", metavar="tag")
