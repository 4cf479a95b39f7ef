"""Two HQ broker nodes: a node killed and restarted mid-run loses and doubles nothing.

Rig: two real mosquitto nodes (persistence on), each with its own `tapcard hub serve
--shared` worker process subscribed with `$share` on that node, both on one SQLite
journal. The nodes are not bridged: a bridge carrying intents into the other node's
group would give every intent to two workers (docs/operations.md, "More than one broker
node at HQ"). Three terminals whose bundles list both nodes top up one card. Node A is
killed with -9 mid-run (the terminals move to B and resend what had no result), then
restarted; later B is killed (they move back to A) and restarted. Then every outbox
drains, the journal holds each intent exactly once (a transfer per intent, the balance
moved by exactly the sum) and `verify` is clean. A terminal that knows only node B gets
the retained rule set there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.broker import PrivateBroker
from hub.verify import verify_ledger
from tapcard.device.bundle import Bundle
from tapcard.device.runtime import DeviceRuntime
from tests.conftest import Seeded
from tests.device.conftest import bundle_json, wait_until
from tests.hub.processes import HubProcess

pytestmark = pytest.mark.slow

TERMINALS = ("till-1", "till-2", "till-3")
PER_PHASE = 20  # top-ups per terminal per phase
AMOUNT_CENTS = 10
MOVE_WAIT_S = 30.0
DRAIN_WAIT_S = 90.0


def node_list(*nodes: PrivateBroker) -> str:
    return ",".join(f"{n.host}:{n.port}" for n in nodes)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[PrivateBroker, PrivateBroker]]:
    pair = (
        PrivateBroker(tmp_path / "node-a", anonymous_devices=True),
        PrivateBroker(tmp_path / "node-b", anonymous_devices=True),
    )
    for node in pair:
        node.start()
    yield pair
    for node in pair:
        node.stop()


def _ready(r: DeviceRuntime) -> Callable[[], bool]:
    return lambda: r.link.connected and r.rules_version >= 1


def _on(r: DeviceRuntime, node: PrivateBroker) -> Callable[[], bool]:
    return lambda: r.link.connected and r.link.client.node == (node.host, node.port)


def _drained(r: DeviceRuntime) -> Callable[[], bool]:
    return lambda: r.store.depth() == 0


def _runtime(seeded: Seeded, device_id: str, broker: str, tmp: Path) -> DeviceRuntime:
    data = json.loads(bundle_json(seeded, device_id, PrivateBroker(tmp / "unused")))
    data["broker"] = broker
    runtime = DeviceRuntime(Bundle.parse(json.dumps(data).encode()), tmp / device_id, None)
    runtime.start()
    return runtime


def test_a_broker_node_restart_moves_devices_and_loses_nothing(
    seeded_sqlite: Seeded, nodes: tuple[PrivateBroker, PrivateBroker], tmp_path: Path
) -> None:
    seeded = seeded_sqlite
    node_a, node_b = nodes
    config = seeded.hub.config
    workers = [
        HubProcess(config.data_dir, config.db_url, node, worker=name, shared=True)
        for name, node in (("a", node_a), ("b", node_b))
    ]
    runtimes: list[DeviceRuntime] = []
    try:
        for worker in workers:
            worker.start()
        both = node_list(node_a, node_b)
        runtimes = [_runtime(seeded, d, both, tmp_path) for d in TERMINALS]
        for r in runtimes:
            wait_until(_ready(r), what="online")
        assert {r.link.client.node for r in runtimes} == {(node_a.host, node_a.port)}
        card = seeded.cards[0]
        seen = {r.link.device_id: r.snapshot(card) for r in runtimes}
        sent = 0

        def phase() -> None:
            nonlocal sent
            for _ in range(PER_PHASE):
                for r in runtimes:
                    look = (seen[r.link.device_id][0], r.link.connected)
                    assert r.top_up(card, AMOUNT_CENTS, seen=look).accepted
                    sent += 1

        def moved_to(node: PrivateBroker) -> None:
            for r in runtimes:
                wait_until(_on(r, node), MOVE_WAIT_S, f"{r.link.device_id} on {node.port}")

        phase()
        node_a.stop(kill=True)  # mid-run: results and acknowledgements still under way
        phase()
        moved_to(node_b)
        phase()
        node_a.start()
        phase()
        node_b.stop(kill=True)
        phase()
        moved_to(node_a)
        node_b.start()
        phase()
        for r in runtimes:
            wait_until(_drained(r), DRAIN_WAIT_S, "outbox drained")

        only_b = _runtime(seeded, "till-4", node_list(node_b), tmp_path)
        runtimes.append(only_b)
        wait_until(lambda: only_b.rules_version >= 1, what="retained rules on node B")

        assert sent == len(TERMINALS) * PER_PHASE * 6
        for device_id in TERMINALS:
            assert count_transfers(seeded, device_id) == PER_PHASE * 6, device_id
        from hub import admin

        with seeded.hub.engine.connect() as conn:
            balances = admin.member_view(conn, seeded.members[0])["balances"]
            assert balances["cents"] == sent * AMOUNT_CENTS
            assert verify_ledger(conn).errors == []
    finally:
        for r in runtimes:
            r.stop()
        for worker in workers:
            if worker.process is not None:
                worker.stop()


def count_transfers(seeded: Seeded, device_id: str) -> int:
    import sqlalchemy as sa

    from hub import db

    query = sa.select(sa.func.count()).select_from(db.transfers)
    with seeded.hub.engine.connect() as conn:
        return int(conn.execute(query.where(db.transfers.c.device_id == device_id)).scalar_one())
