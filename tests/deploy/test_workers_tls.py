"""Scale-out through the locked-down broker: two `tapcard hub serve --shared --tls`
workers on PostgreSQL, a kiosk runtime provisioned with a certificate, one worker killed
with -9 midway. Every intent is booked exactly once and the journal verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from hub.verify import verify_ledger
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tests.deploy.conftest import TlsRig, make_tls_rig
from tests.device.conftest import wait_until
from tests.hub.processes import HubProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOPUPS_N = 400
AMOUNT_CENTS = 13


@pytest.fixture
def pg_tls_rig(pg_url: str, tmp_path: Path) -> Iterator[TlsRig]:
    yield from make_tls_rig(pg_url, tmp_path)


def test_two_workers_on_postgres_through_the_tls_broker(
    pg_tls_rig: TlsRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = pg_tls_rig
    bundle_path = rig.tmp / "kiosk-2" / "bundle.json"
    bundle_path.parent.mkdir()
    bundle_path.write_text(json.dumps(rig.add_device("kiosk-2")))
    rig.broker.start()
    monkeypatch.setenv("TAPCARD_BROKER_TLS", "1")  # the workers use the hub's certificate
    workers = [
        HubProcess(rig.config.data_dir, rig.config.db_url, rig.broker, worker=w, shared=True)
        for w in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    runtime = DeviceRuntime(Bundle.load(bundle_path), bundle_path.parent, None)
    runtime.start()
    card = rig.seeded.cards[1]
    try:
        wait_until(lambda: runtime.link.connected, 20, "device connected over TLS")
        wait_until(lambda: runtime.rules_version >= 1, 30, "rules from a worker")
        seen = runtime.snapshot(card)
        assert seen[1], "a worker answered the snapshot query"
        for i in range(TOPUPS_N):
            if i == TOPUPS_N // 2:
                workers[0].kill()  # the other carries on; the broker redelivers
                workers[0].start()
            assert runtime.top_up(card, AMOUNT_CENTS, seen=seen).accepted
        wait_until(lambda: runtime.store.depth() == 0, 90, "outbox drained")
        with rig.seeded.hub.engine.connect() as conn:
            booked = conn.execute(
                sa.select(sa.func.count())
                .select_from(db.transfers)
                .where(db.transfers.c.device_id == "kiosk-2")
            ).scalar_one()
            results = conn.execute(
                sa.select(sa.func.count())
                .select_from(db.results)
                .where(db.results.c.device_id == "kiosk-2")
            ).scalar_one()
            report = verify_ledger(conn)
        assert booked == TOPUPS_N and results == TOPUPS_N
        assert report.errors == []
    finally:
        runtime.stop()
        codes = [w.stop() for w in workers]
    logs = [w.log() for w in workers]  # read after the stop: what a worker said on its way out
    assert codes == [0, 0], logs
    assert all("refused the hub" not in log for log in logs)
