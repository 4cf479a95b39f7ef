"""Nothing lost, nothing doubled: the hub killed, the broker restarted, two workers.

Scenario: a kiosk publishes thousands of signed intents while
- the hub process is killed with -9 in the middle and started again,
- the broker is killed with -9 in the middle and started again,
- two hub workers share the subscription against PostgreSQL, one killed midway.
The kiosk resends whatever has no result yet (as its outbox does). Afterwards every
intent is applied exactly once, every result is the same for every delivery, and
`verify` proves the journal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import HubConfig
from hub.verify import verify_ledger
from tapcard.device.intents import SealedIntent
from tapcard.device.scripted import ScriptedDevice
from tapcard.errors import TapcardError
from tapcard.wire import messages as m
from tests.conftest import Seeded, seed_hub
from tests.hub.processes import HubProcess, ResendingDevice, wait_until
from tests.hub.support import purchase

pytestmark = pytest.mark.slow

INTENTS_N = 5_000
DRAIN_TIMEOUT_S = 120.0


def _intents(device: ScriptedDevice, cards: list[str], count: int) -> list[SealedIntent]:
    """Alternating top-ups and purchases over the cards (small top-ups: 5,000 intents on
    two cards stay within the stored-value cap of the sample rules)."""
    out = []
    for i in range(count):
        card = cards[i % len(cards)]
        op: m.AnyOp = m.TopUp(amount_cents=10 + i % 7) if i % 2 else purchase(1_000 + i % 13)
        out.append(device.make(card, op))
    return out


def _check_exactly_once(hub: Hub, sealed: list[SealedIntent], device: ScriptedDevice) -> None:
    with hub.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one()
        results = conn.execute(sa.select(sa.func.count()).select_from(db.results)).scalar_one()
        topups = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(db.accounts.c.balance), 0)).where(
                db.accounts.c.asset == "cents", db.accounts.c.member_id.is_not(None)
            )
        ).scalar_one()
        report = verify_ledger(conn)
    expected_topups = sum(
        s.intent.op.amount_cents for s in sealed if isinstance(s.intent.op, m.TopUp)
    )
    assert report.errors == []
    assert results == len(sealed)
    assert count == len(sealed)
    assert topups == expected_topups
    assert all(device.results[s.tx_id].accepted for s in sealed)


@pytest.fixture
def hub_setup(tmp_path: Path) -> Iterator[tuple[Seeded, HubConfig]]:
    config = HubConfig(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.sqlite3'}", None)
    seeded = seed_hub(config)
    yield seeded, config
    seeded.hub.close()


def _device(seeded: Seeded, broker: PrivateBroker) -> ScriptedDevice:
    return ScriptedDevice(
        seeded.device_id,
        seeded.device_key,
        seeded.hub.secrets.hub_key.verify_key,
        broker.host,
        broker.port,
    )


def _load_with_fault(
    hub_setup: tuple[Seeded, HubConfig], broker: PrivateBroker, fault: Callable[[HubProcess], None]
) -> None:
    """Send INTENTS_N intents, inject the fault when a quarter has results, resend what
    has none, then prove every intent was applied exactly once."""
    seeded, config = hub_setup
    hub_proc = HubProcess(config.data_dir, config.db_url, broker)
    hub_proc.start()
    device = _device(seeded, broker)
    try:
        sender = ResendingDevice(device)
        sealed = _intents(device, seeded.cards, INTENTS_N)
        sender.send_all(sealed[:1])
        sender.drain(DRAIN_TIMEOUT_S, resend_every_s=0.5)  # the hub is up and subscribed
        sender.send_all(sealed[1:])
        wait_until(lambda: len(device.results) >= INTENTS_N // 4, 60, "a quarter of the results")
        at_fault = len(device.results)
        fault(hub_proc)
        sender.drain(DRAIN_TIMEOUT_S)
        assert 0 < at_fault < INTENTS_N, "the fault must hit the middle of the load"
        _check_exactly_once(seeded.hub, sealed, device)
    finally:
        device.close()
        assert hub_proc.stop() == 0, hub_proc.log()


def test_hub_killed_mid_load_loses_and_doubles_nothing(
    hub_setup: tuple[Seeded, HubConfig], own_broker: PrivateBroker
) -> None:
    def kill_and_restart(hub_proc: HubProcess) -> None:
        hub_proc.kill()
        hub_proc.start()

    _load_with_fault(hub_setup, own_broker, kill_and_restart)


def test_broker_killed_mid_load_loses_and_doubles_nothing(
    hub_setup: tuple[Seeded, HubConfig], own_broker: PrivateBroker
) -> None:
    def kill_broker(_hub_proc: HubProcess) -> None:
        own_broker.stop(kill=True)
        time.sleep(1.0)
        own_broker.start()  # same port, same persistence folder

    _load_with_fault(hub_setup, own_broker, kill_broker)


@pytest.mark.postgres
def test_two_workers_share_the_load_on_postgres(
    pg_url: str, tmp_path: Path, own_broker: PrivateBroker
) -> None:
    config = HubConfig(tmp_path / "hub", pg_url, None)
    seeded = seed_hub(config)
    workers = [
        HubProcess(config.data_dir, pg_url, own_broker, worker=w, shared=True) for w in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    device = _device(seeded, own_broker)
    try:
        sender = ResendingDevice(device)
        sealed = _intents(device, seeded.cards, INTENTS_N // 2)
        sender.send_all(sealed[:1])
        sender.drain(DRAIN_TIMEOUT_S, resend_every_s=0.5)
        sender.send_all(sealed[1:])
        wait_until(lambda: len(device.results) >= INTENTS_N // 8, 60, "some results")
        workers[0].kill()  # the other worker carries on; the broker redelivers
        workers[0].start()
        sender.drain(DRAIN_TIMEOUT_S)
        _check_exactly_once(seeded.hub, sealed, device)
        logs = [w.log_path.read_text() for w in workers]
    finally:
        device.close()
        codes = [w.stop() for w in workers]
        seeded.hub.close()
    assert codes == [0, 0], logs


def _until_answered(device: ScriptedDevice, probe: SealedIntent) -> None:
    """Send one intent until a result comes back (the hub applies it once by its id):
    proves the active worker's shared subscription is in place, however slow the
    machine, without assuming who else is in the group."""
    deadline = time.monotonic() + 20
    while probe.tx_id not in device.results:
        assert time.monotonic() < deadline, "no worker answered the probe"
        device.publish(probe)
        with contextlib.suppress(TapcardError):
            device.wait(probe.tx_id, timeout_s=0.5)


def test_a_stopped_shared_worker_leaves_the_group(
    hub_setup: tuple[Seeded, HubConfig], own_broker: PrivateBroker
) -> None:
    """A worker that stops cleanly deletes its session: the broker must not go on
    handing it a share of the intents (they would wait for the session to expire)."""
    from hub.service import HubService

    seeded, _config = hub_setup
    address = own_broker.hub_address
    retired = HubService(seeded.hub, address, worker="retired", shared=True)
    retired.start()
    assert retired.wait_connected(10)
    retired.stop()
    active = HubService(seeded.hub, address, worker="active", shared=True)
    active.start()
    device = _device(seeded, own_broker)
    try:
        assert active.wait_connected(10)
        _until_answered(device, device.make(seeded.cards[0], m.TopUp(amount_cents=1)))
        sealed = [device.make(seeded.cards[0], m.TopUp(amount_cents=1)) for _ in range(20)]
        for item in sealed:
            device.publish(item)
        device.wait_all([s.tx_id for s in sealed], timeout_s=10)  # no resends needed
    finally:
        device.close()
        active.stop()
