"""What to tell whom: notices planned from what the ledger and HQ recorded.

The planner reads; it never sits on the ingest path. Transfers are read past a
watermark (their booking time and id, kept in the settings), so each is planned once
and the ledger's hot path pays nothing for notices. Each notice's key names its cause
and channel (`receipt:<tx>:sms`), so planning again, after a crash between enqueue and
the watermark's update, records nothing twice.

- a receipt for each of a member's transactions, with the points and stored value after;
- a low-balance warning when a transaction takes the stored value below the threshold;
- a lost or replaced card (from the audit log);
- daily: points expiring within EXPIRING_WITHIN_DAYS, birthday greetings, and holiday
  greetings on the days HQ listed (marketing: only with that consent, never in quiet
  hours);
- campaign offers to a list of members (a segment), marketing too;
- every transfer as a `transfer.booked` event to the chain's own systems by webhook.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.settings import get_setting, set_setting
from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import MEMBER_CHANNELS, addresses, consenting
from hub.notices.outbox import NewNotice, enqueue
from hub.notices.templates import MARKETING_KINDS, RECEIPT_WHAT, NoticeKind, render
from tapcard.domain.ledger import system_account
from tapcard.domain.model import TENDER_ACCOUNT, Asset
from tapcard.ui.fmt import money

PAGE_TRANSFERS: Final = 2_000
EXPIRING_WITHIN_DAYS: Final = 30
LOW_BALANCE_CENTS_DEFAULT: Final = 2_000  # ¥20
WATERMARK_KEY: Final = "notices.transfers_after"  # "<applied_ms> <tx_id>"
AUDIT_WATERMARK_KEY: Final = "notices.audit_after"
HOLIDAYS_KEY: Final = "notices.holidays"  # JSON: [{"date": "2027-02-17", "zh": "春节", "en": ...}]
MEMBERS_PAGE: Final = 5_000


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to tell one member: its kind, the cause that makes its key, its fields."""

    kind: NoticeKind
    cause: str
    member_id: int
    data: Mapping[str, str]


def _purpose(kind: NoticeKind) -> Purpose:
    return Purpose.MARKETING if kind in MARKETING_KINDS else Purpose.SERVICE


def _names(conn: Connection, member_ids: Iterable[int]) -> dict[int, str]:
    m = db.members
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = conn.execute(sa.select(m.c.id, m.c.name).where(m.c.id.in_(ids)))
    return {int(i): str(n) for i, n in rows}


def to_notices(conn: Connection, events: Sequence[Event], now_ms: int) -> int:
    """Each event on every member channel its member consented to and can be reached
    on, in the member's language; how many new notices were recorded."""
    if not events:
        return 0
    names = _names(conn, (e.member_id for e in events))
    notices: list[NewNotice] = []
    for purpose in Purpose:
        mine = [e for e in events if _purpose(e.kind) is purpose]
        ids = sorted({e.member_id for e in mine})
        for channel in MEMBER_CHANNELS:
            agreed = consenting(conn, ids, channel, purpose)
            reach = addresses(conn, sorted(agreed), channel)
            for e in mine:
                if e.member_id not in reach:
                    continue
                address, lang = reach[e.member_id]
                data = {"name": names.get(e.member_id, ""), **e.data}
                subject, body = render(e.kind, lang, data)
                notices.append(
                    NewNotice(
                        key=f"{e.kind}:{e.cause}:{channel}",
                        channel=channel,
                        kind=e.kind.value,
                        purpose=purpose,
                        address=address,
                        lang=lang,
                        subject=subject,
                        body=body,
                        data=data,
                        member_id=e.member_id,
                    )
                )
    return enqueue(conn, notices, now_ms)


# --- transfers ------------------------------------------------------------------------------


def _local(at_ms: int, zone: str) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _member_deltas(conn: Connection, tx_ids: Sequence[str]) -> dict[str, dict[Asset, int]]:
    """tx -> the member's net change per asset (stored value, points)."""
    g = db.legs
    out: dict[str, dict[Asset, int]] = {}
    rows = conn.execute(
        sa.select(g.c.tx_id, g.c.asset, sa.func.sum(g.c.credit - g.c.debit))
        .where(g.c.tx_id.in_(list(tx_ids)), g.c.account.like("m:%"))
        .group_by(g.c.tx_id, g.c.asset)
    )
    for tx_id, asset, delta in rows:
        if asset in (Asset.CENTS.value, Asset.POINTS.value):
            out.setdefault(str(tx_id), {})[Asset(asset)] = int(delta or 0)
    return out


TENDER_CODES: Final = tuple(system_account(a) for a in TENDER_ACCOUNT.values())


def _tendered(conn: Connection, tx_ids: Sequence[str]) -> dict[str, int]:
    """tx -> the money that changed hands at the till (cash, bank card, WeChat, Alipay),
    in or out."""
    g = db.legs
    rows = conn.execute(
        sa.select(g.c.tx_id, sa.func.sum(g.c.debit + g.c.credit))
        .where(g.c.tx_id.in_(list(tx_ids)), g.c.account.in_(TENDER_CODES))
        .group_by(g.c.tx_id)
    )
    return {str(tx): int(amount or 0) for tx, amount in rows}


def _balances_after(
    conn: Connection,
    page: Sequence[Any],
    deltas: Mapping[str, Mapping[Asset, int]],
) -> dict[str, dict[Asset, int]]:
    """tx -> the member's balances just after it: today's balances, walked back over the
    member's transfers booked after it (those of this page and any booked since)."""
    members = sorted({int(str(r.member_id)) for r in page if r.member_id is not None})
    first = page[0]
    a, t = db.accounts, db.transfers
    now = {
        (int(m), Asset(asset)): int(b)
        for m, asset, b in conn.execute(
            sa.select(a.c.member_id, a.c.asset, a.c.balance).where(
                a.c.member_id.in_(members), a.c.asset.in_([Asset.CENTS.value, Asset.POINTS.value])
            )
        )
    }
    # Newest first as the ledger booked them: a batch shares one booking time, and a
    # device's intents in it are in their sequence order.
    later = conn.execute(
        sa.select(t.c.tx_id, t.c.member_id, t.c.applied_ms)
        .where(t.c.member_id.in_(members), t.c.applied_ms >= first.applied_ms)
        .order_by(t.c.applied_ms.desc(), t.c.device_id.desc(), t.c.seq.desc(), t.c.tx_id.desc())
    ).all()
    extra = [str(r.tx_id) for r in later if str(r.tx_id) not in deltas]
    all_deltas = {**_member_deltas(conn, extra), **deltas} if extra else dict(deltas)
    running = dict(now)
    after: dict[str, dict[Asset, int]] = {}
    for r in later:  # newest first: undo each after noting the balance it left
        member = int(r.member_id)
        after[str(r.tx_id)] = {x: running.get((member, x), 0) for x in (Asset.CENTS, Asset.POINTS)}
        for asset, delta in all_deltas.get(str(r.tx_id), {}).items():
            running[(member, asset)] = running.get((member, asset), 0) - delta
    return after


def _receipt_events(
    page: Sequence[Any],
    deltas: Mapping[str, Mapping[Asset, int]],
    tendered: Mapping[str, int],
    after: Mapping[str, Mapping[Asset, int]],
    zone: str,
    low_cents: int,
) -> list[Event]:
    events = []
    for r in page:
        kind, tx_id = str(r.kind), str(r.tx_id)
        if r.member_id is None or kind not in RECEIPT_WHAT:
            continue
        member, moved, left = int(str(r.member_id)), deltas.get(tx_id, {}), after.get(tx_id, {})
        cents, points = moved.get(Asset.CENTS, 0), moved.get(Asset.POINTS, 0)
        balance = left.get(Asset.CENTS, 0)
        # What the member paid or got: at the till, plus from or to their stored value
        # (a top-up's stored value is what the till took, so it is not counted twice).
        amount = tendered.get(tx_id, 0) + (0 if kind == "topup" else abs(cents))
        data = {
            "card": str(r.card_id or ""),
            "when": _local(int(str(r.created_ms)), zone),
            "amount": money(amount) if amount else "",
            "points": f"{points:+,}",
            "points_after": f"{left.get(Asset.POINTS, 0):,}",
            "balance_after": money(balance),
            "tx_id": tx_id,
        }
        for lang in ("zh", "en"):  # the template takes `what` in the notice's language
            data[f"what_{lang}"] = RECEIPT_WHAT[kind][lang]
        events.append(Event(NoticeKind.RECEIPT, tx_id, member, data))
        if cents < 0 and balance < low_cents <= balance - cents:  # crossed the line here
            events.append(Event(NoticeKind.LOW_BALANCE, tx_id, member, data))
    return events


def _webhook_notices(page: Sequence[Any], zone: str) -> list[NewNotice]:
    out = []
    for r in page:
        data = {
            "tx_id": str(r.tx_id),
            "kind": str(r.kind),
            "member_id": str(r.member_id or ""),
            "card_id": str(r.card_id or ""),
            "branch": str(r.branch_id or ""),
            "device": str(r.device_id or ""),
            "local_time": _local(int(str(r.created_ms)), zone),
        }
        subject, body = render(NoticeKind.TRANSFER_BOOKED, "en", data)
        out.append(
            NewNotice(
                key=f"{NoticeKind.TRANSFER_BOOKED}:{r.tx_id}",
                channel=ChannelName.WEBHOOK,
                kind=NoticeKind.TRANSFER_BOOKED.value,
                purpose=Purpose.SERVICE,
                address="",
                lang="en",
                subject=subject,
                body=body,
                data=data,
                member_id=int(str(r.member_id)) if r.member_id is not None else None,
            )
        )
    return out


def plan_transfers(
    conn: Connection,
    now_ms: int,
    zone: str,
    *,
    webhook: bool,
    low_cents: int = LOW_BALANCE_CENTS_DEFAULT,
) -> int:
    """Receipts, low-balance warnings and webhook events for the transfers booked since
    the last call (one page); how many transfers were planned."""
    t = db.transfers
    mark = get_setting(conn, WATERMARK_KEY, "0 ")
    after_ms, _, after_tx = mark.partition(" ")
    page = conn.execute(
        sa.select(
            t.c.tx_id,
            t.c.kind,
            t.c.member_id,
            t.c.card_id,
            t.c.branch_id,
            t.c.device_id,
            t.c.created_ms,
            t.c.applied_ms,
        )
        .where(sa.tuple_(t.c.applied_ms, t.c.tx_id) > (int(after_ms), after_tx))
        .order_by(t.c.applied_ms, t.c.tx_id)
        .limit(PAGE_TRANSFERS)
    ).all()
    if not page:
        return 0
    deltas = _member_deltas(conn, [str(r.tx_id) for r in page])
    after = (
        _balances_after(conn, page, deltas) if any(r.member_id is not None for r in page) else {}
    )
    tendered = _tendered(conn, [str(r.tx_id) for r in page])
    to_notices(conn, _receipt_events(page, deltas, tendered, after, zone, low_cents), now_ms)
    if webhook:
        enqueue(conn, _webhook_notices(page, zone), now_ms)
    last = page[-1]
    set_setting(conn, WATERMARK_KEY, f"{last.applied_ms} {last.tx_id}")
    return len(page)


def plan_cards(conn: Connection, now_ms: int, zone: str) -> int:
    """Lost and replaced cards since the last call, from the audit log."""
    a, c = db.audit, db.cards
    after = int(get_setting(conn, AUDIT_WATERMARK_KEY, "0"))
    top = int(conn.execute(sa.select(sa.func.max(a.c.id))).scalar() or 0)  # read first
    rows = conn.execute(
        sa.select(a.c.id, a.c.at_ms, a.c.action, a.c.target, a.c.detail)
        .where(a.c.id > after, a.c.id <= top, a.c.action.in_(["card.lost", "card.replace"]))
        .order_by(a.c.id)
        .limit(PAGE_TRANSFERS)
    ).all()
    owners: dict[str, int] = {}
    if rows:
        targets = [str(r.target) for r in rows]
        for card_id, member_id in conn.execute(
            sa.select(c.c.id, c.c.member_id).where(c.c.id.in_(targets))
        ):
            owners[str(card_id)] = int(member_id)
    events = []
    for r in rows:
        member = owners.get(r.target)
        if member is None:
            continue
        card = str(r.target)
        kind = NoticeKind.CARD_LOST
        if r.action == "card.replace":
            kind, card = (
                NoticeKind.CARD_REPLACED,
                str(json.loads(r.detail or "{}").get("new_card", card)),
            )
        data = {"card": card, "when": _local(int(r.at_ms), zone)}
        events.append(Event(kind, f"audit{r.id}", int(member), data))
    to_notices(conn, events, now_ms)
    set_setting(
        conn,
        AUDIT_WATERMARK_KEY,
        str(int(rows[-1].id) if len(rows) == PAGE_TRANSFERS else int(top)),
    )
    return len(events)


# --- daily and campaigns ----------------------------------------------------------------------


def _active_members(
    conn: Connection, where: sa.ColumnElement[bool] | None = None
) -> Iterable[list[Any]]:
    m = db.members
    last = 0
    while True:
        query = sa.select(m.c.id, m.c.birthday).where(m.c.id > last, m.c.state == "active")
        if where is not None:
            query = query.where(where)
        page = conn.execute(query.order_by(m.c.id).limit(MEMBERS_PAGE)).all()
        if not page:
            return
        yield list(page)
        last = int(str(page[-1].id))


def _is_birthday(born: dt.date, today: dt.date) -> bool:
    if (born.month, born.day) == (today.month, today.day):
        return True
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (born.month, born.day) == (2, 29) and (today.month, today.day) == (2, 28) and not leap


def plan_daily(conn: Connection, today: dt.date, now_ms: int) -> int:
    """Points expiring soon, birthdays and HQ's holidays of `today`; how many events."""
    events: list[Event] = []
    b = db.point_buckets
    horizon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    for member, first, points in conn.execute(
        sa.select(b.c.member_id, sa.func.min(b.c.expires_on), sa.func.sum(b.c.points))
        .where(b.c.expires_on >= today, b.c.expires_on <= horizon, b.c.points > 0)
        .group_by(b.c.member_id)
    ):
        data = {"points": f"{int(points):,}", "expires_on": str(first)}
        events.append(Event(NoticeKind.POINTS_EXPIRING, f"{member}:{first}", int(member), data))
    for page in _active_members(conn, db.members.c.birthday.is_not(None)):
        for r in page:
            if isinstance(r.birthday, dt.date) and _is_birthday(r.birthday, today):
                events.append(
                    Event(NoticeKind.BIRTHDAY, f"{r.id}:{today.year}", int(str(r.id)), {})
                )
    for holiday in json.loads(get_setting(conn, HOLIDAYS_KEY, "[]")):
        if holiday.get("date") == today.isoformat():
            data = {
                "holiday_zh": str(holiday.get("zh", "")),
                "holiday_en": str(holiday.get("en", "")),
            }
            for page in _active_members(conn):
                cause = f"{today.isoformat()}"
                events += [
                    Event(NoticeKind.HOLIDAY, f"{cause}:{r.id}", int(str(r.id)), data) for r in page
                ]
    for start in range(0, len(events), MEMBERS_PAGE):
        to_notices(conn, events[start : start + MEMBERS_PAGE], now_ms)
    return len(events)


def enqueue_campaign(
    conn: Connection,
    code: str,
    member_ids: Sequence[int],
    title: Mapping[str, str],
    text: Mapping[str, str],
    now_ms: int,
) -> int:
    """An offer to these members (a segment): marketing, so only to those who agreed,
    and never in quiet hours; once per member and channel whatever the calls."""
    data = {f"title_{lang}": title.get(lang, "") for lang in ("zh", "en")}
    data |= {f"text_{lang}": text.get(lang, "") for lang in ("zh", "en")}
    events = [Event(NoticeKind.CAMPAIGN, f"{code}:{m}", m, data) for m in member_ids]
    return sum(
        to_notices(conn, events[i : i + MEMBERS_PAGE], now_ms)
        for i in range(0, len(events), MEMBERS_PAGE)
    )
