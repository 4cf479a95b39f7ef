"""`tapcard hub voucher use --branch --device-kind` refuses a misplaced voucher with its
place, and `tapcard hub voucher expire` gives an unused expired voucher's points back
once (SQLite through the CLI, as a car park's exit system or HQ's cron would call it)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hub import admin, db
from tapcard.domain.model import Asset
from tapcard.wire import messages as m
from tests.conftest import credit
from tests.hub.test_cli import Cli, hub_cli, kiosk_and_card, open_hub

__all__ = ["hub_cli"]  # the fixture, used by name


def _points(run: Cli, member_id: int) -> int:
    hub = open_hub(run)
    try:
        with hub.engine.connect() as conn:
            return int(admin.member_view(conn, member_id)["balances"]["points"])
    finally:
        hub.close()


def test_misplaced_and_expired_vouchers_from_the_cli(hub_cli: Cli, tmp_path: Path) -> None:
    device, member_id, card_id = kiosk_and_card(hub_cli, tmp_path)
    hub = open_hub(hub_cli)
    try:
        credit(hub, member_id, Asset.POINTS, 1_000)
        results = hub.ledger.apply_batch(
            [device.incoming(card_id, m.Redeem(item="PARK-HOUR", units=u)) for u in (1, 2)]
        )
        far, stale = (r.voucher for r in results)
        with hub.transaction() as conn:
            v = db.vouchers
            conn.execute(v.update().where(v.c.code == far).values(branches="shop-9"))
            conn.execute(v.update().where(v.c.code == stale).values(expires_ms=1, points_back=True))
    finally:
        hub.close()
    before = _points(hub_cli, member_id)
    where = ("--branch", "shop-1", "--device-kind", "terminal")
    assert hub_cli.error("voucher", "use", far, *where) == (
        f"error: voucher {far} counts only at branch shop-9"
    )
    assert hub_cli.error("voucher", "use", stale, *where).startswith(
        f"error: voucher {stale} expired at 1970-01-01 00:00 UTC"
    )
    first = hub_cli.json("voucher", "expire")
    assert first == {"expired": [stale], "points_back": {stale: 200}}
    assert hub_cli.json("voucher", "expire") == {"expired": [], "points_back": {}}
    assert _points(hub_cli, member_id) == before + 200
    assert hub_cli.json("voucher", "use", far)["code"] == far  # HQ: no place applies
    hub = open_hub(hub_cli)
    try:
        with hub.engine.connect() as conn:
            kinds = conn.execute(
                sa.select(db.transfers.c.kind).where(db.transfers.c.kind == "voucher_expiry")
            ).all()
    finally:
        hub.close()
    assert len(kinds) == 1
