"""The device's local storage keeps what it accepted, whatever happens to the process.

Scenario: a kiosk's power is cut while it rewrites its settings document, again and
again: every time the document reads back whole, old or new. Its SQLite store runs out
of room: the next sale is refused with a typed error and every sale accepted before is
still there, in sequence. Its outbox fills up while the hub is away: new transactions
are refused with `OutboxFullError`, the heartbeat carries the `outbox_full` alarm, and
once the hub is back and the outbox drains, the alarm clears. A bundle that is not a
bundle is refused with a message that names the problem; a good one is installed 0600.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from launcher.cli import main as tapcard_main
from tapcard.device.bundle import BUNDLE_FILE, Bundle, BundleError
from tapcard.device.docstore import DocStore
from tapcard.device.outbox import ALARM_OUTBOX_FULL, Outbox, OutboxFullError
from tapcard.device.store import DeviceStore, Spent, StoreError
from tapcard.wire import messages as m
from tapcard.wire.envelope import open_envelope
from tapcard.wire.keys import signing_key_text, verify_key_text
from tests.clock import TEST_CLOCK
from tests.device.conftest import Rig, bundle_json, wait_until

KILL_ROUNDS = 12

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tapcard.device.docstore import DocStore
    docs = DocStore(Path(sys.argv[1]))
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        size = 50_000 if n % 2 else 400_000
        docs.put("settings", {"n": n, "pad": "x" * size, "size": size})
    """
)


def test_tinydb_document_survives_kill_9_mid_write(tmp_path: Path) -> None:
    rng = random.Random(7)
    last_seen = 0
    for _ in range(KILL_ROUNDS):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE
        )
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.01, 0.15))
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(5) == -signal.SIGKILL
        writer.stdout.close()
        docs = DocStore(tmp_path)
        doc = docs.get("settings")
        docs.close()
        if doc is None:
            assert last_seen == 0  # killed before the first write ever finished
            continue
        assert len(doc["pad"]) == doc["size"]
        assert doc["n"] >= 1
        last_seen = doc["n"]
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= KILL_ROUNDS  # orphaned temp files, never the document itself
    assert last_seen > 0


def _outbox(tmp_path: Path) -> tuple[DeviceStore, Outbox]:
    store = DeviceStore(tmp_path)
    return store, Outbox(store, SigningKey.generate(), "kiosk-9", TEST_CLOCK)


def test_full_disk_is_a_typed_error_and_loses_nothing(tmp_path: Path) -> None:
    store, outbox = _outbox(tmp_path)
    accepted = [
        outbox.add(
            "C1",
            m.TopUp(amount_cents=100 + i),
            1,
            offline=True,
            spent=Spent("2025-01-01", "C1", cents=0),
        )
        for i in range(20)
    ]
    store._db.execute("PRAGMA max_page_count = 1")  # no room left to grow: "disk full"
    with pytest.raises(StoreError, match="full"):
        for _ in range(200):
            outbox.add("C1", m.Redeem(item="PARK-HOUR" * 7, units=1), 1, offline=True)
    store.close()
    reopened = DeviceStore(tmp_path)
    rows = reopened.pending(0, 1000)
    assert [r.tx_id for r in rows[:20]] == [str(q.tx_id) for q in accepted]
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert reopened.seq() == len(rows)
    envelope = open_envelope(rows[0].payload)
    assert json.loads(envelope.body)["seq"] == 1
    reopened.close()


def test_seq_and_counters_commit_with_the_row(tmp_path: Path) -> None:
    store, outbox = _outbox(tmp_path)
    for _ in range(3):
        outbox.add(
            "C1",
            m.Spend(amount_cents=700),
            1,
            offline=True,
            spent=Spent("2025-01-01", "C1", cents=700),
        )
    with pytest.raises(OutboxFullError):
        outbox.add(
            "C1",
            m.Spend(amount_cents=700),
            1,
            offline=True,
            spent=Spent("2025-01-01", "C1", cents=700),
            len_max=3,
        )
    assert outbox.full_alarm
    counters = store.day_counters("2025-01-01", "C1")
    assert (counters.card_cents, counters.device_cents) == (2_100, 2_100)  # not 2,800
    assert store.seq() == 3 and store.depth() == 3
    done = store.mark_done([(r.tx_id, "{}") for r in store.pending(0, 10)], 1)
    assert len(done) == 3 and store.mark_done([(done[0], "{}")], 2) == []
    outbox.check_alarm(len_max=3)
    assert not outbox.full_alarm
    queued = outbox.add("C1", m.TopUp(amount_cents=1), 1, offline=False)
    assert queued.seq == 4  # never reused, also after the rows were answered
    store.close()


def test_full_outbox_refuses_offline_sales_and_raises_the_alarm(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tapcard.device import outbox as outbox_module

    monkeypatch.setattr(outbox_module, "OUTBOX_LEN_MAX", 5)
    card = rig.seeded.cards[0]
    device = rig.device("kiosk-2")
    device.snapshot(card)  # cached while online
    rig.broker.stop()
    wait_until(lambda: not device.link.connected, what="link down")
    receipts = [device.top_up(card, 100) for _ in range(5)]
    assert all(r.accepted and r.offline for r in receipts)
    with pytest.raises(OutboxFullError):
        device.top_up(card, 100)
    assert ALARM_OUTBOX_FULL in device.health().alarms
    rig.broker.start()
    wait_until(lambda: device.store.depth() == 0, what="outbox drained")
    assert ALARM_OUTBOX_FULL not in device.health().alarms
    assert device.top_up(card, 100).accepted
    assert rig.balances(0)["cents"] >= 500


def _good_bundle() -> dict[str, str]:
    return {
        "device_id": "kiosk-7",
        "branch_id": "shop-1",
        "kind": "kiosk",
        "device_key": signing_key_text(SigningKey.generate()),
        "hub_public_key": verify_key_text(SigningKey.generate().verify_key),
        "issuer_public_key": verify_key_text(SigningKey.generate().verify_key),
        "broker": "127.0.0.1:1883",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_key": "not base64!"}, "signing key is not base64"),
        ({"hub_public_key": "AAAA"}, "public key must be 32 bytes"),
        ({"device_id": "Kiosk 7"}, "is not a device id"),
        ({"kind": "toaster"}, "kind must be one of kiosk, terminal, gate, wash_bay"),
        ({"broker": "127.0.0.1:99999"}, "is not host:port"),
        ({"device_id": None}, "Expected `str`"),
        ({"surprise": "x"}, "unknown field"),
    ],
)
def test_malformed_bundle_is_refused(change: dict[str, object], message: str) -> None:
    data: dict[str, object] = {**_good_bundle(), **change}
    with pytest.raises(BundleError, match=message):
        Bundle.parse(json.dumps(data).encode())


def test_bundle_that_is_not_json_or_missing_a_field(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not JSON"):
        Bundle.parse(b"{device_id: kiosk")
    partial = _good_bundle()
    del partial["hub_public_key"]
    with pytest.raises(BundleError, match="hub_public_key"):
        Bundle.parse(json.dumps(partial).encode())
    with pytest.raises(BundleError, match="cannot be read"):
        Bundle.load(tmp_path / "nope.json")


def test_provision_copies_the_bundle_0600_and_status_reads_it(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bundle.json"
    source.write_bytes(bundle_json(rig.seeded, "kiosk-5", rig.broker))
    data_dir = tmp_path / f"dev-{uuid.uuid4().hex[:6]}"
    assert tapcard_main(["device", "provision", str(source), "--data", str(data_dir)]) == 0
    assert os.stat(data_dir / BUNDLE_FILE).st_mode & 0o777 == 0o600
    assert tapcard_main(["device", "status", "--json", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    status = json.loads(out[out.index("{") :])
    assert status["device_id"] == "kiosk-5" and status["outbox_depth"] == 0
    assert not status["running"]
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert tapcard_main(["device", "provision", str(bad), "--data", str(data_dir)]) == 2
    assert "bundle" in capsys.readouterr().err
