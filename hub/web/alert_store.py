"""What happens to alerts over time: the watcher's sweep keeps the alert history (one row
each time an alert opens, closed when it clears), tells the notifier once per new
alert, and forgets the acknowledgements of alerts that cleared, so that a recurrence
alerts again. The history is bounded to the newest HISTORY_ROWS_MAX rows.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.app import Hub
from hub.web import alerts
from hub.web.alert_notify import AlertNotifier
from hub.web.alert_schema import HISTORY_TABLE
from hub.web.settings import WebSettings
from tapcard.domain.rules import BUSINESS_TIME_ZONE_DEFAULT
from tapcard.errors import NotFoundError

HISTORY_ROWS_MAX = 5_000  # about a month of a busy chain's alerts
HISTORY_LISTED_MAX = 200


def history_table() -> sa.Table:
    return db.metadata.tables[HISTORY_TABLE]


def business_zone(hub: Hub) -> ZoneInfo:
    try:
        return ZoneInfo(hub.rules.latest().time_zone)
    except (NotFoundError, KeyError, ValueError):
        return ZoneInfo(BUSINESS_TIME_ZONE_DEFAULT)


def sync_history(conn: Connection, found: list[alerts.Alert], now_ms: int) -> list[alerts.Alert]:
    """Open a row for each alert not open yet, close the rows of alerts that cleared;
    returns the alerts that opened now."""
    h = history_table()
    open_keys = set(conn.execute(sa.select(h.c.key).where(h.c.closed_ms == 0)).scalars())
    active = {a.key: a for a in found}
    cleared = open_keys - set(active)
    if cleared:
        conn.execute(
            h.update()
            .where(h.c.key.in_(sorted(cleared)), h.c.closed_ms == 0)
            .values(closed_ms=now_ms)
        )
    opened = [a for key, a in active.items() if key not in open_keys]
    if opened:
        conn.execute(
            h.insert(),
            [
                {
                    "key": a.key,
                    "kind": a.kind,
                    "branch_id": a.branch,
                    "subject": a.subject[:200],
                    "message": stored_message(a),
                    "opened_ms": a.since_ms or now_ms,
                    "closed_ms": 0,
                    "acked_by": None,
                    "acked_ms": 0,
                    "note": "",
                }
                for a in opened
            ],
        )
        _prune(conn)
    return opened


def stored_message(alert: alerts.Alert) -> str:
    """The English text with its msgid and values, so that the history shows in the
    page's language as the live alert does (a row from before holds the text alone)."""
    if not alert.msgid:
        return alert.message
    told = {"text": alert.message, "msgid": alert.msgid, "fields": alert.values()}
    return json.dumps(told, ensure_ascii=False)


def history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with `message` (English), `msgid` and `fields` ("" and {} if none)."""
    text = str(row["message"])
    row["msgid"], row["fields"] = "", {}
    if text.startswith("{"):
        try:
            told = json.loads(text)
        except ValueError:
            return row
        if isinstance(told, dict) and isinstance(told.get("fields"), dict):
            row["message"] = str(told.get("text", ""))
            row["msgid"] = str(told.get("msgid", ""))
            row["fields"] = {str(k): str(v) for k, v in told["fields"].items()}
    return row


def _prune(conn: Connection) -> None:
    h = history_table()
    cutoff = conn.execute(
        sa.select(h.c.id).order_by(h.c.id.desc()).offset(HISTORY_ROWS_MAX).limit(1)
    ).scalar()
    if cutoff is not None:
        conn.execute(h.delete().where(h.c.id <= cutoff))


def sweep(
    hub: Hub,
    cfg: WebSettings,
    devices: dict[str, dict[str, Any]],
    gaps: list[dict[str, Any]],
    notifier: AlertNotifier,
) -> list[alerts.Alert]:
    """One pass of the watcher; returns the alerts that opened (each notified once)."""
    zone = business_zone(hub)
    with hub.writer.begin() as conn:
        found = alerts.compute(conn, cfg, devices, gaps, zone)
        covered = {key for a in found for key in a.covers()}
        a = db.alert_acks
        conn.execute(a.delete().where(a.c.key.not_in(sorted(covered)) if covered else sa.true()))
        opened = sync_history(conn, found, db.now_ms(conn))
    for alert in opened:
        notifier.notify(alert)
    return opened


def history(
    conn: Connection, branch: str | None, state: str = "", limit: int = HISTORY_LISTED_MAX
) -> list[dict[str, Any]]:
    """Newest first: `open`, `acked` (acknowledged, open or not), `closed` or all."""
    h = history_table()
    query = sa.select(h).order_by(h.c.id.desc()).limit(limit)
    if branch is not None:
        query = query.where(h.c.branch_id == branch)
    if state == "open":
        query = query.where(h.c.closed_ms == 0)
    elif state == "acked":
        query = query.where(h.c.acked_ms > 0)
    elif state == "closed":
        query = query.where(h.c.closed_ms > 0)
    return [history_row(dict(row._mapping)) for row in conn.execute(query)]
