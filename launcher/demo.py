"""`tapcard demo`: the whole system on embedded defaults, in one command.

Seeds the sample rules, a branch, two members with cards and a manager (PIN 1234), then
starts a private mosquitto, the hub, and a kiosk and a staff terminal in their own
windows on sim readers; a card is tapped from the command line
(`tapcard device tap ...`, printed at start). Without a display (or with
`--headless`) a scripted device rings up purchases, a top-up and a parking redemption
instead and the balances the hub booked are printed. Run it again: it goes on from
where it stopped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import sqlalchemy as sa

from hub import admin, db
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.service import HubService
from hub.verify import verify_ledger
from launcher.demo_seed import (
    DEMO_DEVICE,
    DEMO_DIR_DEFAULT,
    HUB_CONNECT_TIMEOUT_S,
    RunCommand,
    seed,
)
from tapcard.device.scripted import ScriptedDevice
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Payment
from tapcard.files import private_folder
from tapcard.ui import fmt
from tapcard.wire import messages as m
from tapcard.wire.keys import signing_key_from_text


def _script(device: ScriptedDevice, cards: list[str]) -> list[m.TxResult]:
    first, second = cards[0], cards[1]
    steps: list[tuple[str, m.AnyOp]] = [
        (
            first,
            m.Purchase(
                lines=[SaleLine("grocery", 12_850, 2, "rice-5kg"), SaleLine("group_buy", 3_000)],
                payment=Payment.CASH,
            ),
        ),
        (first, m.TopUp(amount_cents=50_000)),
        (first, m.Purchase(lines=[SaleLine("car_wash", 4_500)], payment=Payment.STORED_VALUE)),
        (second, m.Purchase(lines=[SaleLine("fuel", 30_099)], payment=Payment.CASH)),
        (first, m.Redeem(item="PARK-HOUR", units=2)),
    ]
    return [device.send(card, op) for card, op in steps]


def run_demo(
    data: str | None, run_command: RunCommand, headless: bool = False, windows: bool = False
) -> int:
    data_dir = Path(data or DEMO_DIR_DEFAULT)
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if windows or (has_display and not headless):
        from tapcard.ui.environment import kivy_missing

        if (missing := kivy_missing("the windowed demo")) is not None:
            print(f"error: {missing}; or run `tapcard demo --headless`", file=sys.stderr)
            return 2
        from launcher.demo_windows import run_windows

        return run_windows(private_folder(data_dir), run_command)
    if not headless:
        print("no display: running the headless demo (a scripted device; see --help)")
    # The hub refuses a database in a folder that does not exist: a first run makes it.
    return _run_headless(private_folder(data_dir))


def _run_headless(data_dir: Path) -> int:
    hub = Hub.init(
        HubConfig.from_env(data_dir=str(data_dir), db_url=f"sqlite:///{data_dir / 'hub.sqlite3'}")
    )
    key_text, cards = seed(hub, data_dir)
    broker = PrivateBroker(data_dir / "broker", registry=hub.engine)  # devices log in
    broker.start()
    service = HubService(hub, broker.hub_address)  # the one client that may publish config
    service.start()
    try:
        if not service.wait_connected(HUB_CONNECT_TIMEOUT_S):
            print("error: the hub could not reach its broker")
            return 1
        device = ScriptedDevice(
            DEMO_DEVICE,
            signing_key_from_text(key_text),
            hub.secrets.hub_key.verify_key,
            broker.host,
            broker.port,
            rules_version=hub.rules.latest_version(),
            password=broker.device_address(DEMO_DEVICE).password,
        )
        device.seq = _last_seq(hub)  # a real device keeps this in its outbox
        try:
            results = _script(device, cards)
        finally:
            device.close()
        _report(results, hub, cards)
    finally:
        service.stop()
        broker.stop()
    return 0


def _last_seq(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        seq = conn.execute(
            sa.select(db.devices.c.seq_max).where(db.devices.c.id == DEMO_DEVICE)
        ).scalar()
    return int(seq or 0)


def _report(results: list[m.TxResult], hub: Hub, cards: list[str]) -> None:
    print(f"tapcard demo: hub on SQLite in {hub.config.data_dir}, private mosquitto, sample rules")
    for result in results:
        what = "accepted" if result.accepted else f"REJECTED ({result.message})"
        extra = f" voucher {result.voucher}" if result.voucher else ""
        print(
            f"  {result.card_id} seq {result.seq}: {what}; paid {fmt.money(result.net_cents)}, "
            f"+{result.points_earned}/-{result.points_spent} points{extra}"
        )
    with hub.engine.connect() as conn:
        for card in cards:
            snap = admin.card_snapshot(conn, card, hub.rules.latest())
            assert snap.balances is not None  # a card just issued is found, with balances
            print(
                f"  card {card} ({snap.member_name_masked}, {snap.tier}): "
                + f"{snap.balances.points} points, {snap.balances.growth} growth, "
                + f"stored value {fmt.money(snap.balances.stored_value_cents)}"
            )
        report = verify_ledger(conn)
    print(
        f"  ledger verify: {'clean' if report.ok else report.errors}, "
        f"{report.transfers} transfers, {report.legs} legs"
    )
