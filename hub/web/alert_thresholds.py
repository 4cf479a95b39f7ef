"""Alert thresholds HQ sets on the alerts page, kept in the settings table (one key per
threshold, `alert.<name>`), over the defaults of hub/web/settings.py. Each change is
audited with the values before and after.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from hub.admin.audit import audit
from hub.admin.settings import get_setting, set_setting
from hub.web.settings import WebSettings
from tapcard.errors import TapcardError

SETTING_PREFIX = "alert."


@dataclass(frozen=True, slots=True)
class Threshold:
    name: str  # a WebSettings field
    label: str  # English msgid of the form's label
    low: int
    high: int


THRESHOLDS = (
    Threshold("offline_alert_s", "Offline for at least (s)", 0, 86_400),
    Threshold("outbox_depth_alert", "Outbox waiting at least (intents)", 1, 1_000_000),
    Threshold("outbox_age_alert_s", "Oldest unsent at least (s)", 1, 7 * 86_400),
    Threshold("disk_free_mib_min", "Disk free below (MiB)", 1, 1_000_000),
    Threshold("outage_devices_min", "Branch outage from (devices offline)", 2, 1_000),
    Threshold("outage_share_pct", "Branch outage from (% of its devices)", 1, 100),
)
_BY_NAME = {t.name: t for t in THRESHOLDS}
MIB_BYTES = 2**20


def current(cfg: WebSettings) -> dict[str, int]:
    values = {
        t.name: int(getattr(cfg, t.name, 0)) for t in THRESHOLDS if t.name != "disk_free_mib_min"
    }
    values["disk_free_mib_min"] = cfg.disk_free_bytes_min // MIB_BYTES
    return values


def effective(conn: Connection, cfg: WebSettings) -> WebSettings:
    """`cfg` with what HQ has set in the settings table."""
    changes: dict[str, float | int] = {}
    for t in THRESHOLDS:
        text = get_setting(conn, SETTING_PREFIX + t.name)
        if not text.isdigit():
            continue
        if t.name == "disk_free_mib_min":
            changes["disk_free_bytes_min"] = int(text) * MIB_BYTES
        elif t.name == "offline_alert_s":
            changes[t.name] = float(text)
        else:
            changes[t.name] = int(text)
    return dataclasses.replace(cfg, **changes) if changes else cfg  # type: ignore[arg-type]


def parse(form: dict[str, str]) -> dict[str, int]:
    """The posted thresholds, each a whole number in its range, or a TapcardError naming
    the first one that is not (nothing is stored then)."""
    values: dict[str, int] = {}
    for t in THRESHOLDS:
        text = str(form.get(t.name, "")).strip()
        if not text.isdigit() or not t.low <= int(text) <= t.high:
            raise TapcardError(f"{t.name} must be a whole number from {t.low} to {t.high}")
        values[t.name] = int(text)
    return values


def store(conn: Connection, cfg: WebSettings, values: dict[str, int], actor: str) -> None:
    before = current(effective(conn, cfg))
    for name, value in values.items():
        if name in _BY_NAME:
            set_setting(conn, SETTING_PREFIX + name, str(value))
    audit(conn, actor, "alert.thresholds", "alerts", {"before": before, "after": values})
