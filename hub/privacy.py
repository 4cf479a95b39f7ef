"""Privacy by law (PIPL, 个人信息保护法): the member key's rotation, a member's data on
request, closing an account by anonymising the person, the retention of location
data, and the log of who read whose data. The seal itself: hub/privacy_keys.py.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db, privacy_keys, privacy_seal
from hub.admin.audit import audit
from hub.admin.settings import get_setting, set_setting
from hub.progress import Progress, no_progress
from tapcard.domain.model import DeviceKind
from tapcard.errors import ValidationError


def rotate_key(
    conn: Connection, data_dir: Path, secret: bytes, progress: Progress = no_progress
) -> privacy_seal.SealCount:
    """A new member key seals from now on; every value is re-sealed under it in `conn`'s
    transaction. The caller drops the old keys (`drop_old_keys`) only after it commits:
    until then a crash leaves both keys in the file and every row opens."""
    path = privacy_keys.key_path(data_dir)
    keys = privacy_keys.load(data_dir, secret)
    privacy_keys.write_keys(path, (*keys.keys, privacy_keys.new_key_line()))
    privacy_keys.install(privacy_keys.load(data_dir, secret))
    return seal_all(conn, rotate=True, progress=progress)


def seal_all(
    conn: Connection, rotate: bool = False, progress: Progress = no_progress
) -> privacy_seal.SealCount:
    """Every sealed column: the members' (name, phone, address), then the contacts' and
    the notices' addresses."""
    members = privacy_seal.seal_rows(conn, rotate, progress)
    elsewhere = privacy_seal.seal_elsewhere(conn, rotate, progress)
    return privacy_seal.SealCount(members.rows, members.left_plain, elsewhere)


def drop_old_keys(data_dir: Path, secret: bytes) -> int:
    """Keep only the newest key in the file; returns how many went."""
    keys = privacy_keys.load(data_dir, secret)
    privacy_keys.write_keys(privacy_keys.key_path(data_dir), keys.keys[-1:])
    return len(keys.keys) - 1


# --- the data-access log ------------------------------------------------------------

ACCESS_ROWS_MAX = 500


def access_log() -> sa.Table:
    return db.metadata.tables["member_access_log"]


def log_access(
    conn: Connection, actor: str, member_id: int, action: str, via: str, at_ms: int | None = None
) -> None:
    """Who read whose personal data: the dashboard's member page, `member show`, an
    export. Written in the reader's transaction, so a read that fails logs nothing."""
    at = db.now_ms(conn) if at_ms is None else at_ms
    conn.execute(
        access_log()
        .insert()
        .values(at_ms=at, actor=actor[:64], member_id=member_id, action=action[:32], via=via)
    )


def day_start_ms(day: dt.date, zone: str) -> int:
    """The first ms of a business day (the rules' time zone): the log's date filters."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(zone))
    return int(start.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class AccessFilter:
    actor: str = ""
    member_id: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None  # exclusive


def access_entries(
    conn: Connection, where: AccessFilter, limit: int = ACCESS_ROWS_MAX
) -> list[dict[str, Any]]:
    """The log, newest first, filtered by who, whose and when."""
    a = access_log()
    query = sa.select(a.c.at_ms, a.c.actor, a.c.member_id, a.c.action, a.c.via)
    if where.actor:
        query = query.where(a.c.actor == where.actor)
    if where.member_id is not None:
        query = query.where(a.c.member_id == where.member_id)
    if where.since_ms is not None:
        query = query.where(a.c.at_ms >= where.since_ms)
    if where.until_ms is not None:
        query = query.where(a.c.at_ms < where.until_ms)
    rows = conn.execute(query.order_by(a.c.at_ms.desc(), a.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


# --- retention of location data -------------------------------------------------------

RETENTION_SETTING = "privacy.location_days"
RETENTION_DAYS_DEFAULT = 90
LOCATION_DEVICES = (DeviceKind.GATE.value, DeviceKind.WASH_BAY.value)


def location_days(conn: Connection) -> int:
    text = get_setting(conn, RETENTION_SETTING, str(RETENTION_DAYS_DEFAULT))
    return int(text)


def set_location_days(conn: Connection, days: int, actor: str) -> None:
    if not 1 <= days <= 3650:
        raise ValidationError("location retention is 1-3650 days")
    set_setting(conn, RETENTION_SETTING, str(days))
    audit(conn, actor, "privacy.retention", RETENTION_SETTING, {"days": days})


def prune_location(conn: Connection, now_ms: int) -> int:
    """Where a member's car was and when: the gates' and wash bays' passes (their
    `voucher.use` audit rows, actor `device:<id>`) older than the retention. The
    voucher and its transfer stay (the ledger is not location data and is kept); the
    QR nonces go at their expiry already (hub/member_qr.py). Returns rows removed."""
    cutoff = now_ms - location_days(conn) * db.DAY_MS
    devices = sa.select(sa.literal("device:") + db.devices.c.id).where(
        db.devices.c.kind.in_(LOCATION_DEVICES)
    )
    a = db.audit
    gone = conn.execute(
        a.delete().where(a.c.at_ms < cutoff, a.c.action == "voucher.use", a.c.actor.in_(devices))
    )
    return int(gone.rowcount)
