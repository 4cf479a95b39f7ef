"""Alerts, computed from the live state on each look; acknowledgements are stored.

An alert's key is `kind:subject` (`offline:kiosk-7`, `exception:42`). An ack lasts as
long as its alert: the watcher drops acks whose alert has cleared, so a device that
goes offline again alerts again. Acking an offline double-spend exception also marks
the exception row as handled. Every ack is written to the audit trail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from hub.admin.denylist import denylist_version
from hub.staff_card_tries import CARD_LOCKOUT_S, card_lockouts
from hub.staff_sessions import PIN_LOCKOUT_S, pin_lockouts
from hub.web import alert_thresholds
from hub.web.alert_schema import HISTORY_TABLE, NOTE_LEN_MAX
from hub.web.auth import User
from hub.web.i18n import money
from hub.web.settings import WebSettings
from tapcard.domain.model import STAFF_CARD_PREFIX
from tapcard.domain.rules import BUSINESS_TIME_ZONE_DEFAULT
from tapcard.errors import NotFoundError

KINDS = (
    "outage",
    "offline",
    "reader",
    "outbox",
    "rules",
    "denylist",
    "gap",
    "exception",
    "disk",
    "pin_lock",
    "card_lock",
)


@dataclass(frozen=True, slots=True)
class Alert:
    key: str
    kind: str
    branch: str | None
    subject: str
    message: str
    since_ms: int
    acked_by: str | None = None
    devices: tuple[str, ...] = ()  # an outage's offline devices
    msgid: str = ""  # the English text with {fields}, translated on the page
    fields: tuple[tuple[str, str], ...] = ()

    def values(self) -> dict[str, str]:
        return dict(self.fields)

    def covers(self) -> tuple[str, ...]:
        """Its key and, for an outage, the offline alerts of its devices it stands for."""
        return (self.key, *(f"offline:{d}" for d in self.devices))

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "branch": self.branch,
            "subject": self.subject,
            "message": self.message,
            "since_ms": self.since_ms,
            "acked_by": self.acked_by,
            "devices": list(self.devices),
        }


# Every alert's text, in English with {fields}: the page translates it with its values
# (tests/web/test_i18n.py checks each has a Chinese entry); `message` is the English.
MSGIDS: Final = (
    "{device} offline since {since}",
    "{device} silent since {since} (no heartbeat)",
    "{device} reader fault: {detail}",
    "{device} reader fault",
    "{device} outbox: {depth} waiting, oldest {age} s",
    "{device} disk low: {mib} MiB free",
    "{device} runs rules {version}, latest is {latest}",
    "{device} has deny list {version}, latest is {latest}",
    "{branch}: {down} of {total} devices offline since {since}",
    "{kind}: {detail} ({amount} {asset}, card {card})",
    "{device} is missing {missing} sequence numbers (first {first})",
    "PIN logins for device {subject} locked after repeated wrong PINs",
    "PIN logins for staff {subject} locked after repeated wrong PINs",
    "staff card logins for device {subject} locked after repeated refusals",
    "staff card logins for card {subject} locked after repeated refusals",
)
Fields = tuple[tuple[str, str], ...]


def _told(msgid: str, /, **fields: object) -> tuple[str, str, Fields]:
    shown = {name: str(value) for name, value in fields.items()}
    return msgid.format(**shown), msgid, tuple(shown.items())


def _alert(
    key: str,
    kind: str,
    branch: str | None,
    subject: str,
    since_ms: int,
    msgid: str,
    /,
    **fields: object,
) -> Alert:
    text, msgid, told = _told(msgid, **fields)
    return Alert(key, kind, branch, subject, text, since_ms, None, (), msgid, told)


def _clock_text(at_ms: int, now_ms: int, zone: ZoneInfo) -> str:
    """10:32 today, 05-14 10:32 on another day, in the business time zone."""
    if not at_ms:
        return "-"
    at = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC).astimezone(zone)
    now = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).astimezone(zone)
    return at.strftime("%H:%M" if at.date() == now.date() else "%Y-%m-%d %H:%M")


def _device_alerts(
    dev: dict[str, Any],
    cfg: WebSettings,
    now_ms: int,
    latest: tuple[int, int, int, int],
    zone: ZoneInfo,
) -> list[Alert]:
    rules_version, rules_ms, deny_version, deny_ms = latest
    name, branch, out = dev["id"], dev["branch"], []

    def add(kind: str, since_ms: int, msgid: str, **fields: object) -> None:
        out.append(
            _alert(f"{kind}:{name}", kind, branch, name, since_ms, msgid, device=name, **fields)
        )

    if dev["presence"] in ("revoked", "never"):
        return []  # a device not yet installed has no rules, reader or outbox to alert on
    down_ms = now_ms - dev["last_seen_ms"]
    if dev["presence"] in ("offline", "stale") and down_ms >= cfg.offline_alert_s * 1000:
        msgid = (
            "{device} offline since {since}"
            if dev["presence"] == "offline"
            else "{device} silent since {since} (no heartbeat)"
        )
        since = _clock_text(dev["last_seen_ms"], now_ms, zone)
        add("offline", dev["last_seen_ms"], msgid, since=since)
    _health_alerts(dev, cfg, add)
    grace_ms = cfg.config_ack_grace_s * 1000
    if dev["rules_version"] < rules_version and now_ms - rules_ms >= grace_ms:
        add(
            "rules",
            rules_ms,
            "{device} runs rules {version}, latest is {latest}",
            version=dev["rules_version"],
            latest=rules_version,
        )
    if dev["denylist_version"] < deny_version and now_ms - deny_ms >= grace_ms:
        add(
            "denylist",
            deny_ms,
            "{device} has deny list {version}, latest is {latest}",
            version=dev["denylist_version"],
            latest=deny_version,
        )
    return out


def _health_alerts(dev: dict[str, Any], cfg: WebSettings, add: Callable[..., None]) -> None:
    """The reader, outbox and disk of a device's last heartbeat."""
    if dev["reader"] == "fault":
        if dev["reader_detail"]:
            add(
                "reader",
                dev["health_at_ms"],
                "{device} reader fault: {detail}",
                detail=dev["reader_detail"],
            )
        else:
            add("reader", dev["health_at_ms"], "{device} reader fault")
    if (
        dev["outbox_depth"] >= cfg.outbox_depth_alert
        or dev["outbox_oldest_age_s"] >= cfg.outbox_age_alert_s
    ):
        add(
            "outbox",
            dev["health_at_ms"],
            "{device} outbox: {depth} waiting, oldest {age} s",
            depth=dev["outbox_depth"],
            age=dev["outbox_oldest_age_s"],
        )
    if 0 < dev["disk_free_bytes"] < cfg.disk_free_bytes_min:
        add(
            "disk",
            dev["health_at_ms"],
            "{device} disk low: {mib} MiB free",
            mib=dev["disk_free_bytes"] // 2**20,
        )


def _latest_config(conn: Connection) -> tuple[int, int, int, int]:
    rules = conn.execute(
        sa.select(db.rule_sets.c.version, db.rule_sets.c.loaded_ms)
        .order_by(db.rule_sets.c.version.desc())
        .limit(1)
    ).first()
    deny_version = denylist_version(conn)
    deny_ms = conn.execute(sa.select(sa.func.max(db.denylist.c.since_ms))).scalar() or 0
    if rules is None:
        return 0, 0, deny_version, int(deny_ms)
    return int(rules.version), int(rules.loaded_ms), deny_version, int(deny_ms)


def _exception_alerts(conn: Connection, device_branch: dict[str, str]) -> list[Alert]:
    e = db.exceptions
    rows = conn.execute(sa.select(e).where(e.c.acked_by.is_(None)).order_by(e.c.id))
    out = []
    for row in rows:
        subject = row.device_id or f"member {row.member_id}"
        branch = device_branch.get(row.device_id or "")
        msgid, fields = _exception_text(row)
        out.append(
            _alert(
                f"exception:{row.id}", "exception", branch, subject, row.created_ms, msgid, **fields
            )
        )
    return out


def _exception_text(row: Any) -> tuple[str, dict[str, object]]:
    """An exception's words: a sale the hub repriced by its product catalog (the device's
    was older) has its own, in yuan; the others as they were recorded."""
    if row.kind == "catalog_price" and row.asset == "cents":
        msgid = (
            "Repriced by the hub's product catalog (the device's was older): {amount}, card {card}"
        )
        return msgid, {"amount": money(row.amount), "card": row.card_id}
    fields = {"kind": row.kind, "detail": row.detail or "", "amount": row.amount}
    return "{kind}: {detail} ({amount} {asset}, card {card})", fields | {
        "asset": row.asset,
        "card": row.card_id,
    }


def _gap_alerts(gaps: list[dict[str, Any]], device_branch: dict[str, str]) -> list[Alert]:
    return [
        _alert(
            f"gap:{g['device']}",
            "gap",
            device_branch.get(g["device"]),
            g["device"],
            0,
            "{device} is missing {missing} sequence numbers (first {first})",
            device=g["device"],
            missing=g["missing"],
            first=", ".join(map(str, g["first_missing"][:5])),
        )
        for g in gaps
    ]


def _lockout_alerts(conn: Connection, now_ms: int, device_branch: dict[str, str]) -> list[Alert]:
    """PIN logins locked after repeated wrong PINs: someone may be guessing at a till."""
    staff_branch = dict(conn.execute(sa.select(db.staff.c.id, db.staff.c.branch_id)).all())
    out = []
    for lock in pin_lockouts(conn, now_ms):
        branches = device_branch if lock.kind == "device" else staff_branch
        msgid = f"PIN logins for {lock.kind} {{subject}} locked after repeated wrong PINs"
        since_ms = lock.until_ms - PIN_LOCKOUT_S * 1000
        subject = f"{lock.kind} {lock.subject}"
        key = f"pin_lock:{lock.kind}:{lock.subject}"
        out.append(
            _alert(
                key,
                "pin_lock",
                branches.get(lock.subject),
                subject,
                since_ms,
                msgid,
                subject=lock.subject,
            )
        )
    return out + _card_lockout_alerts(conn, now_ms, device_branch)


def _card_lockout_alerts(
    conn: Connection, now_ms: int, device_branch: dict[str, str]
) -> list[Alert]:
    """Staff card logins locked after repeated refusals: copied or made-up staff cards."""
    staff_branch = {
        f"{STAFF_CARD_PREFIX}{staff_id}": branch
        for staff_id, branch in conn.execute(sa.select(db.staff.c.id, db.staff.c.branch_id))
    }
    out = []
    for lock in card_lockouts(conn, now_ms):
        branches = device_branch if lock.kind == "device" else staff_branch
        msgid = f"staff card logins for {lock.kind} {{subject}} locked after repeated refusals"
        since_ms = lock.until_ms - CARD_LOCKOUT_S * 1000
        key = f"card_lock:{lock.kind}:{lock.subject}"
        subject = f"{lock.kind} {lock.subject}"
        out.append(
            _alert(
                key,
                "card_lock",
                branches.get(lock.subject),
                subject,
                since_ms,
                msgid,
                subject=lock.subject,
            )
        )
    return out


def _outages(
    conn: Connection,
    found: list[Alert],
    devices: dict[str, dict[str, Any]],
    cfg: WebSettings,
    now_ms: int,
    zone: ZoneInfo,
) -> list[Alert]:
    """A branch most of whose devices are offline together is one alert listing them
    (its uplink or power went), not one alert per device."""
    active: dict[str, int] = defaultdict(int)
    for dev in devices.values():
        if dev["presence"] != "revoked":
            active[dev["branch"]] += 1
    down: dict[str, list[Alert]] = defaultdict(list)
    for alert in found:
        if alert.kind == "offline" and alert.branch is not None:
            down[alert.branch].append(alert)
    names = dict(conn.execute(sa.select(db.branches.c.id, db.branches.c.name)).all())
    out = [a for a in found if a.kind != "offline"]
    for branch, offline in down.items():
        n, total = len(offline), active[branch]
        if n < cfg.outage_devices_min or n * 100 < cfg.outage_share_pct * total:
            out.extend(offline)
            continue
        since_ms = min(a.since_ms for a in offline)
        text, msgid, fields = _told(
            "{branch}: {down} of {total} devices offline since {since}",
            branch=str(names.get(branch, branch)),
            down=str(n),
            total=str(total),
            since=_clock_text(since_ms, now_ms, zone),
        )
        ids = tuple(sorted(a.subject for a in offline))
        subject = str(names.get(branch, branch))
        out.append(
            Alert(
                f"outage:{branch}",
                "outage",
                branch,
                subject,
                text,
                since_ms,
                None,
                ids,
                msgid,
                fields,
            )
        )
    return out


def compute(
    conn: Connection,
    cfg: WebSettings,
    devices: dict[str, dict[str, Any]],
    gaps: list[dict[str, Any]],
    zone: ZoneInfo | None = None,
) -> list[Alert]:
    """Every active alert, acked or not, over all branches, by the thresholds HQ set."""
    zone = zone or ZoneInfo(BUSINESS_TIME_ZONE_DEFAULT)
    cfg = alert_thresholds.effective(conn, cfg)
    now_ms = db.clock_of(conn).now_ms()
    latest = _latest_config(conn)
    found: list[Alert] = []
    for dev in devices.values():
        found.extend(_device_alerts(dev, cfg, now_ms, latest, zone))
    found = _outages(conn, found, devices, cfg, now_ms, zone)
    device_branch = {d["id"]: d["branch"] for d in devices.values()}
    found.extend(_exception_alerts(conn, device_branch))
    found.extend(_gap_alerts(gaps, device_branch))
    found.extend(_lockout_alerts(conn, now_ms, device_branch))
    return with_acks(conn, found)


def with_acks(conn: Connection, found: list[Alert]) -> list[Alert]:
    """The alerts with their acknowledgements as stored now (one small read, so that an
    ack shows at once on alerts the watcher computed a moment ago)."""
    acks = dict(conn.execute(sa.select(db.alert_acks.c.key, db.alert_acks.c.acked_by)).all())
    return [dataclasses.replace(a, acked_by=acks.get(a.key)) for a in found]


def for_user(alerts: list[Alert], user: User) -> list[Alert]:
    return [a for a in alerts if user.branch_scope is None or a.branch == user.branch_scope]


def counts(alerts: list[Alert]) -> dict[str, int]:
    open_alerts = [a for a in alerts if a.acked_by is None]
    by_kind = {kind: sum(1 for a in open_alerts if a.kind == kind) for kind in KINDS}
    return {"open": len(open_alerts), "acked": len(alerts) - len(open_alerts), **by_kind}


def acknowledge(conn: Connection, alert: Alert, user: User, note: str = "") -> None:
    """Acknowledged with an optional note (kept in the alert history); an outage also
    acknowledges the offline alerts of its devices, should it split up."""
    now_ms = db.clock_of(conn).now_ms()
    a = db.alert_acks
    keys = alert.covers()
    have = set(conn.execute(sa.select(a.c.key).where(a.c.key.in_(keys))).scalars())
    for key in keys:
        if key not in have:
            conn.execute(a.insert().values(key=key, acked_by=user.username, acked_ms=now_ms))
    h = db.metadata.tables[HISTORY_TABLE]
    conn.execute(
        h.update()
        .where(h.c.key.in_(keys), h.c.closed_ms == 0, h.c.acked_ms == 0)
        .values(acked_by=user.username, acked_ms=now_ms, note=note[:NOTE_LEN_MAX])
    )
    if alert.kind == "exception":
        exc_id = int(alert.key.split(":", 1)[1])
        conn.execute(
            db.exceptions.update()
            .where(db.exceptions.c.id == exc_id)
            .values(acked_by=user.username)
        )
    audit(conn, user.actor, "alert.ack", alert.key, {"message": alert.message, "note": note})


def find(alerts: list[Alert], key: str) -> Alert:
    for alert in alerts:
        if alert.key == key:
            return alert
    raise NotFoundError(f"alert {key} is not active")
