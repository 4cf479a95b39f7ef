"""The chain bench/fleet.py runs against: branches, devices with keys, members with
cards and points, a dashboard user; and the count of the ledger against what was sent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import sqlalchemy as sa

from bench.fleet_devices import DeviceSpec
from hub import admin, db
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.verify import verify_ledger
from hub.web import alert_thresholds, auth
from hub.web.settings import WebSettings
from tapcard.domain.model import Asset
from tapcard.samples import sample_rules_bytes
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.conftest import credit

PASSWORD = "bench-password-1"
KIOSKS_PER_BRANCH = 2  # the rest are terminals
CARDS_PER_BRANCH = 2  # the pool: this many members per branch, at most CARDS_N
CARDS_N = 100
POINTS_EACH = 1_000_000  # so redemptions are booked, not refused for lack of points


@dataclass
class Seeded:
    hub: Hub
    config: HubConfig
    specs: list[DeviceSpec] = field(default_factory=list)


def seed(config: HubConfig, branches_n: int, per_branch: int, offline_alert_s: int) -> Seeded:
    """The sample rules, `branches_n` branches b000.. of `per_branch` devices, a pool of
    members who shop anywhere; the alert threshold for a device offline set as HQ would."""
    hub = Hub.init(config)
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
        auth.add_user(conn, "bench", PASSWORD, auth.Role.ADMIN, None, "bench")
        values = {"offline_alert_s": offline_alert_s}
        alert_thresholds.store(conn, WebSettings(), values, "bench")
    rules = hub.rules.latest()
    members, cards = [], []
    with hub.transaction() as conn:
        for b in range(branches_n):
            admin.add_branch(conn, f"b{b:03d}", f"Branch {b}", "chain", "bench")
        for c in range(min(CARDS_N, CARDS_PER_BRANCH * branches_n)):
            new = admin.NewMember(f"M {c}", f"1390000{c:04d}", branch_id=f"b{c % branches_n:03d}")
            members.append(admin.add_member(conn, new, rules, "", "bench"))
            cards.append(admin.issue_card(conn, members[-1], rules, "bench"))
    for member in members:
        credit(hub, member, Asset.POINTS, POINTS_EACH)
    seeded = Seeded(hub, config)
    rows = []
    now_ms = hub.clock.now_ms()
    for b in range(branches_n):
        for d in range(per_branch):
            kind = "kiosk" if d < KIOSKS_PER_BRANCH else "terminal"
            spec = DeviceSpec(f"b{b:03d}-{kind[0]}{d:02d}", "", "", f"b{b:03d}", kind, tuple(cards))
            key = new_signing_key()
            seeded.specs.append(dataclasses.replace(spec, key_hex=key.encode().hex()))
            rows.append(_device_row(spec, verify_key_text(key.verify_key), now_ms))
    with hub.transaction() as conn:  # one insert: admin.add_device is ~6 ms a device
        db.bulk_insert(conn, db.devices, rows)
    return seeded


def _device_row(spec: DeviceSpec, public_key: str, now_ms: int) -> dict[str, object]:
    """A provisioned device that has never connected, as admin.add_device leaves it."""
    return {
        "id": spec.device_id,
        "branch_id": spec.branch,
        "kind": spec.kind,
        "public_key": public_key,
        "state": "active",
        "created_ms": now_ms,
        "online": False,
        "status_ms": 0,
        "last_seen_ms": 0,
        "offline_from_ms": 0,
        "health": "{}",
        "software_version": "",
        "rules_version": 0,
        "denylist_version": 0,
        "seq_max": 0,
    }


def _doubles(conn: sa.Connection) -> int:
    """Rows that would mean an intent counted twice; the unique keys should keep it 0."""
    twice = 0
    for table, columns in (
        (db.transfers, ("tx_id",)),
        (db.results, ("tx_id",)),
        (db.transfers, ("device_id", "seq")),
        (db.results, ("device_id", "seq")),
    ):
        keys = [table.c[name] for name in columns]
        grouped = (
            sa.select(*keys)
            .where(table.c.device_id.is_not(None))
            .group_by(*keys)
            .having(sa.func.count() > 1)
            .subquery()
        )
        twice += int(conn.execute(sa.select(sa.func.count()).select_from(grouped)).scalar_one())
    return twice


def count_once(hub: Hub, sent: set[str]) -> dict[str, int]:
    """lost: sent without a result in the database; doubled: a tx id or (device, seq)
    twice, or a device's transfer under an id it never sent; verify's errors."""
    with hub.engine.connect() as conn:
        answered = set(conn.execute(sa.select(db.results.c.tx_id)).scalars())
        from_devices = set(
            conn.execute(
                sa.select(db.transfers.c.tx_id).where(db.transfers.c.device_id.is_not(None))
            ).scalars()
        )
        refused = int(
            conn.execute(
                sa.select(sa.func.count()).where(db.results.c.accepted.is_(False))
            ).scalar_one()
        )
        doubled = _doubles(conn)
        report = verify_ledger(conn)
    return {
        "sent": len(sent),
        "lost": len(sent - answered),
        "doubled": doubled + len(from_devices - sent),
        "refused": refused,
        "verify_errors": len(report.errors),
    }
