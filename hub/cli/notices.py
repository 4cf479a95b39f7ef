"""`tapcard hub notice run | list | replay | consent | contact | holiday | offer`: notices
to members and the chain's systems (hub/notices/)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any, Final

import sqlalchemy as sa

from hub import db, segments
from hub.admin.settings import get_setting, set_setting
from hub.cli.common import actor_of, add_command, open_hub, parse_date, print_data
from hub.notices import outbox, planner
from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import CONTACT_CHANNELS, MEMBER_CHANNELS, record_consent, set_contact
from hub.notices.run import channels_from, rates_from, run_round

LIST_COLUMNS: Final = [
    "id",
    "kind",
    "channel",
    "member_id",
    "state",
    "tries",
    "created_ms",
    "last_error",
]
LIST_ROWS_DEFAULT: Final = 50


def cmd_run(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    channels = channels_from()
    report = run_round(hub, channels, rates_from())
    d = report.delivery or outbox.DeliveryStats()
    data = {
        "channels": ", ".join(sorted(channels)) or "none configured (notices wait)",
        "transfers planned": report.transfers,
        "card notices": report.cards,
        "daily notices": report.daily,
        "sent": d.sent,
        "retrying": d.retrying,
        "dead": d.dead,
    }
    print_data(args, data)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    t = db.notices
    query = sa.select(t).order_by(t.c.id.desc()).limit(args.limit)
    if args.state:
        query = query.where(t.c.state == args.state)
    with hub.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        counts = outbox.counts(conn)
    if args.json:
        print(json.dumps({"counts": counts, "notices": rows}, ensure_ascii=False, default=str))
        return 0
    print_data(args, [{c: r[c] for c in LIST_COLUMNS} for r in rows], LIST_COLUMNS)
    print(", ".join(f"{state} {n:,}" for state, n in sorted(counts.items())) or "no notices")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not (args.ids or args.all_dead):
        print("error: name the notices to send again, or --all-dead", file=sys.stderr)
        return 2
    hub = open_hub(args)
    with hub.transaction() as conn:
        done = outbox.replay(conn, None if args.all_dead else args.ids, hub.clock.now_ms())
    print(f"{done} dead notice(s) due again")
    return 0


def cmd_consent(args: argparse.Namespace) -> int:
    if args.grant == args.withdraw:
        print("error: say --grant or --withdraw", file=sys.stderr)
        return 2
    hub = open_hub(args)
    with hub.transaction() as conn:
        record_consent(
            conn,
            args.member_id,
            ChannelName(args.channel),
            Purpose(args.purpose),
            args.grant,
            args.terms,
            actor_of(args),
        )
    verb = "agreed to" if args.grant else "withdrew from"
    print(f"member {args.member_id} {verb} {args.purpose} notices by {args.channel}")
    return 0


def cmd_contact(args: argparse.Namespace) -> int:
    hub = open_hub(args)
    with hub.transaction() as conn:
        set_contact(
            conn, args.member_id, ChannelName(args.channel), args.address, args.lang, actor_of(args)
        )
    print(f"member {args.member_id}: {args.channel} contact saved ({args.lang})")
    return 0


def cmd_holiday(args: argparse.Namespace) -> int:
    """A greeting day: every member who agreed to marketing gets it on that day."""
    hub = open_hub(args)
    day: dt.date = args.day
    with hub.transaction() as conn:
        days = json.loads(get_setting(conn, planner.HOLIDAYS_KEY, "[]"))
        days = [d for d in days if d.get("date") != day.isoformat()]
        days.append({"date": day.isoformat(), "zh": args.zh, "en": args.en})
        set_setting(
            conn,
            planner.HOLIDAYS_KEY,
            json.dumps(sorted(days, key=lambda d: d["date"]), ensure_ascii=False),
        )
    print(f"{day.isoformat()}: {args.zh} / {args.en} greeting planned")
    return 0


def cmd_offer(args: argparse.Namespace) -> int:
    """A campaign's offer to its segment's members, its control group left out so that
    the campaign's uplift is measured against members who were not told."""
    hub = open_hub(args)
    found = [c for c in hub.rules.latest().campaigns if c.code == args.campaign]
    if not found:
        print(f"error: no campaign {args.campaign} in the rules: see `tapcard hub rules show`",
              file=sys.stderr)  # fmt: skip
        return 2
    campaign = found[0]
    segment = args.segment or campaign.segment
    if not segment:
        print(f"error: {campaign.code} is for every member: name the audience with --segment",
              file=sys.stderr)  # fmt: skip
        return 2
    title = {"zh": args.title_zh, "en": args.title_en}
    text = {"zh": args.text_zh, "en": args.text_en}
    with hub.transaction() as conn:
        audience = segments.members_of(conn, segment)
        told = [
            m for m in audience if not segments.held_out(m, campaign.code, campaign.control_percent)
        ]
        made = planner.enqueue_campaign(conn, campaign.code, told, title, text, hub.clock.now_ms())
    data = {
        "campaign": campaign.code,
        "segment": segment,
        "members in the segment": len(audience),
        "held out (control group)": len(audience) - len(told),
        "notices recorded": made,
    }
    print_data(args, data)
    return 0


def register(cmds: Any) -> None:
    notice = cmds.add_parser("notice", help="notices to members: run, list, replay, consent")
    sub = notice.add_subparsers(dest="notice_cmd", required=True)
    add_command(
        sub, "run", cmd_run, "plan what happened since the last run, then deliver", read=True
    )
    listing = add_command(
        sub, "list", cmd_list, "the newest notices and counts by state", read=True
    )
    listing.add_argument("--state", choices=("pending", "sending", "sent", "dead"))
    listing.add_argument("--limit", type=int, default=LIST_ROWS_DEFAULT)
    replay = add_command(sub, "replay", cmd_replay, "send dead notices again")
    replay.add_argument("ids", type=int, nargs="*", help="notice ids")
    replay.add_argument("--all-dead", action="store_true")
    consent = add_command(
        sub, "consent", cmd_consent, "record a member's consent or its withdrawal"
    )
    consent.add_argument("member_id", type=int)
    consent.add_argument("--channel", choices=[c.value for c in MEMBER_CHANNELS], required=True)
    consent.add_argument("--purpose", choices=[p.value for p in Purpose], required=True)
    consent.add_argument("--terms", required=True, help="the version of the terms the member saw")
    consent.add_argument("--grant", action="store_true")
    consent.add_argument("--withdraw", action="store_true")
    contact = add_command(sub, "contact", cmd_contact, "a member's e-mail or WeChat openid")
    contact.add_argument("member_id", type=int)
    contact.add_argument("channel", choices=[c.value for c in CONTACT_CHANNELS])
    contact.add_argument("address")
    contact.add_argument("--lang", choices=("zh", "en"), default="zh")
    holiday = add_command(sub, "holiday", cmd_holiday, "a holiday greeting to members who agreed")
    holiday.add_argument("day", type=parse_date)
    holiday.add_argument("--zh", required=True, help="the holiday's name in Chinese")
    holiday.add_argument("--en", required=True, help="and in English")
    offer = add_command(
        sub,
        "offer",
        cmd_offer,
        "a campaign's offer to its segment (marketing, who agreed)",
        read=True,
    )
    offer.add_argument("campaign", help="the campaign's code in the rules")
    offer.add_argument("--segment", help="default: the campaign's own segment")
    offer.add_argument("--title-zh", required=True)
    offer.add_argument("--title-en", required=True)
    offer.add_argument("--text-zh", required=True)
    offer.add_argument("--text-en", required=True)
