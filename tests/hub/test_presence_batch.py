"""The statuses and heartbeats of one ingest batch cost one commit, whatever their
number (one each was the hub's bound at 1,000 devices, docs/benchmarks.md "Chain"), and
mean what they meant one by one: presence, the contact that ends a silence
(offline_from_ms, by the hub's clock), the latest health and its history, and the
resend asked of a device that is ahead of the ledger. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from nacl.signing import SigningKey

from hub import db
from hub.metrics import Metrics
from hub.registry import CONTACT_GAP_MS, DeviceRegistry
from hub.router import Checked, Router
from tapcard.clock import ManualClock
from tapcard.mqtt import Event, EventKind
from tapcard.wire import messages as m
from tapcard.wire.envelope import seal
from tapcard.wire.topics import Family, device_topic
from tests.clock import pinned_now_ms
from tests.conftest import Seeded

DEVICES_N = 24
HOUR_MS = 3_600_000


@pytest.fixture
def fleet(seeded: Seeded) -> Iterator[dict[str, SigningKey]]:
    keys = {seeded.device_id: seeded.device_key}
    for i in range(DEVICES_N - 1):
        keys[f"t-{i:02d}"] = seeded.add_device(f"t-{i:02d}")
    yield keys


class Commits:
    """Counts the writer's commits (the fsyncs a batch costs)."""

    def __init__(self, seeded: Seeded) -> None:
        self.n = 0
        self._engine = seeded.hub.writer
        sa.event.listen(self._engine, "commit", self._count)

    def _count(self, _conn: Any) -> None:
        self.n += 1

    def close(self) -> None:
        sa.event.remove(self._engine, "commit", self._count)


def _event(
    keys: dict[str, SigningKey], family: Family, body: m.Status | m.Health
) -> Event[Checked]:
    topic = device_topic(body.device, family)
    payload = seal(keys[body.device], body.device, topic, body)
    return Event(EventKind.MESSAGE, topic, payload, mid=1, qos=1)


def _health(device: str, at_ms: int, seq_last: int = 0, outbox_depth: int = 0) -> m.Health:
    return m.Health(device=device, at_ms=at_ms, software_version="9.9.9", rules_version=3,
                    seq_last=seq_last, outbox_depth=outbox_depth)  # fmt: skip


def _router(seeded: Seeded) -> Router:
    hub = seeded.hub
    return Router(hub, DeviceRegistry(hub.engine), Metrics(hub.writer, hub.ledger.counters))


def _devices(seeded: Seeded) -> dict[str, Any]:
    d = db.devices
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(d)).all()
    return {row.id: row for row in rows}


def _history(seeded: Seeded) -> list[tuple[str, int]]:
    h = db.device_health
    with seeded.hub.engine.connect() as conn:
        rows = conn.execute(sa.select(h.c.device_id, h.c.at_ms).order_by(h.c.id)).all()
    return [(row.device_id, row.at_ms) for row in rows]


def test_a_batch_of_heartbeats_and_statuses_is_one_commit(
    seeded: Seeded, fleet: dict[str, SigningKey]
) -> None:
    nine = pinned_now_ms() + 3 * HOUR_MS  # well after the devices were provisioned
    clock = ManualClock(nine)
    seeded.hub.clock = clock
    router = _router(seeded)
    ids = sorted(fleet)
    online = [_event(fleet, Family.STATUS, m.Status(device=d, online=True, at_ms=5)) for d in ids]
    router.route_batch(online)  # every device seen at nine
    clock.advance(CONTACT_GAP_MS + 1)  # a silence: the next word ends it
    late = clock.now_ms()
    behind = ids[3]  # after a restore: it made 7 intents, the ledger holds none of them
    batch = [_event(fleet, Family.HEALTH, _health(d, late - 1, 7 if d == behind else 0))
             for d in ids]  # fmt: skip
    will = m.Status(device=ids[0], online=False, at_ms=9)  # the broker's, in the same batch
    old_will = m.Status(device=ids[1], online=False, at_ms=4)  # from an earlier connection
    batch += [_event(fleet, Family.STATUS, s) for s in (will, old_will)]
    commits = Commits(seeded)
    try:
        outgoing = router.route_batch(batch)
    finally:
        commits.close()
    assert commits.n == 1, f"{len(batch)} messages cost {commits.n} commits"
    assert router.metrics.counts["presence.heartbeats"] == DEVICES_N
    rows = _devices(seeded)
    for d in ids:
        assert rows[d].last_seen_ms == late and rows[d].offline_from_ms == nine, d
        assert rows[d].software_version == "9.9.9" and rows[d].rules_version == 3
        assert '"software_version":"9.9.9"' in rows[d].health
    assert not rows[ids[0]].online and rows[ids[0]].status_ms == 9
    assert rows[ids[1]].online and rows[ids[1]].status_ms == 5  # the older will lost
    assert _history(seeded) == [(d, late - 1) for d in ids]
    [resend] = outgoing
    assert resend.topic == device_topic(behind, Family.CONTROL)
    assert isinstance(resend.body, m.Resend) and resend.body.from_seq == 1


def test_history_is_bounded_per_device_within_a_batch(
    seeded: Seeded, fleet: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub import registry

    monkeypatch.setattr(registry, "HEALTH_HISTORY_PER_DEVICE_MAX", 3)
    seeded.hub.clock = ManualClock(pinned_now_ms() + HOUR_MS)
    router = _router(seeded)
    a, b = sorted(fleet)[:2]
    batch = [_event(fleet, Family.HEALTH, _health(d, 1_000 + i)) for i in range(5) for d in (a, b)]
    commits = Commits(seeded)
    try:
        assert router.route_batch(batch) == []
    finally:
        commits.close()
    assert commits.n == 1
    assert _history(seeded) == [(d, 1_000 + i) for i in range(2, 5) for d in (a, b)]
    assert _devices(seeded)[a].health.count('"at_ms":1004') == 1  # the newest is the latest


def test_a_device_up_to_date_or_with_its_outbox_waiting_is_not_asked(
    seeded: Seeded, fleet: dict[str, SigningKey]
) -> None:
    seeded.hub.clock = ManualClock(pinned_now_ms() + HOUR_MS)
    router = _router(seeded)
    a, b = sorted(fleet)[:2]
    waiting = _health(a, 1, seq_last=4, outbox_depth=4)  # four sent, no result yet
    assert router.route_batch([_event(fleet, Family.HEALTH, waiting)]) == []
    ahead = _health(b, 1, seq_last=2)
    twice = [_event(fleet, Family.HEALTH, ahead), _event(fleet, Family.HEALTH, ahead)]
    assert len(router.route_batch(twice)) == 1  # asked once, not once per heartbeat
