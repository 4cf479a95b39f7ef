"""The gate and the wash bay as real processes on a real mosquitto and hub, each with a
provisioning bundle like a kiosk's; the relay's pin changes are read from the file the
lowest level of the fake pins writes (tests/device/gate_proc.py).

Scenario: shop-1's exit gate takes Li's 2-hour parking voucher and opens once; it
refuses his wash voucher. The wash bay starts his wash: the power is cut (kill -9)
while the relay is closed, after the bay wrote the start down. Restarted, the bay never
closes the relay again for that code, even asked again; it reports the interrupted
start in its health, which the dashboard shows as an alert on the bay; his second wash
starts once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import db
from hub.web import alerts
from hub.web.fleet import fleet
from hub.web.settings import WebSettings
from tapcard.device.bundle import BUNDLE_FILE
from tapcard.device.gate import ALARM_BAY_INTERRUPTED, JOURNAL_FILE
from tapcard.domain.model import Asset
from tapcard.wire import messages as m
from tests.conftest import credit
from tests.device.conftest import Rig, bundle_json, wait_until
from tests.hub.support import Device

REPO = Path(__file__).resolve().parents[2]
ANSWER_S = 20.0


class Proc:
    def __init__(self, data_dir: Path, hold_s: float) -> None:
        self.pins = data_dir / "pins.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.device.gate_proc",
                str(data_dir),
                str(self.pins),
                str(hold_s),
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        text = self.proc.stdout.readline().decode()
        assert text, f"the device process ended ({self.proc.poll()})"
        found: dict[str, Any] = json.loads(text)
        return found

    def send(self, code: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(code.encode() + b"\n")
        self.proc.stdin.flush()

    def ask(self, code: str) -> dict[str, Any]:
        """The answer once the device has reached the hub (an offline answer consumed
        nothing: the program's first asks may come before its broker session)."""
        deadline = time.monotonic() + ANSWER_S
        while True:
            self.send(code)
            answer = self.line()
            if answer.get("error") != "offline" or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    def closes(self) -> int:
        """How many times the relay closed (GPIO17 went high), across restarts."""
        if not self.pins.exists():
            return 0
        return self.pins.read_text().splitlines().count("GPIO17 1")

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(ANSWER_S)


def provision(rig: Rig, device_id: str, kind: str) -> Path:
    folder = rig.tmp / device_id
    folder.mkdir()
    (folder / BUNDLE_FILE).write_bytes(bundle_json(rig.seeded, device_id, rig.broker, kind))
    return folder


def redeem(rig: Rig, till: Device, item: str, units: int = 1) -> str:
    card = rig.seeded.cards[0]
    [result] = rig.seeded.hub.ledger.apply_batch(
        [till.incoming(card, m.Redeem(item=item, units=units))]
    )
    assert result.accepted, result.message
    return result.voucher


@pytest.fixture
def till(rig: Rig) -> Device:
    credit(rig.seeded.hub, rig.seeded.members[0], Asset.POINTS, 10_000)
    return Device(rig.seeded.device_id, rig.seeded.device_key, rules_version=1)


def test_the_gate_opens_for_parking_only(rig: Rig, till: Device) -> None:
    parking, wash = redeem(rig, till, "PARK-HOUR", 2), redeem(rig, till, "WASH-STANDARD")
    gate = Proc(provision(rig, "gate-1", "gate"), hold_s=0.1)
    try:
        assert gate.line()["ready"] == "gate-1"
        refused = gate.ask(wash)
        assert (refused["ok"], refused["error"], gate.closes()) == (False, "not_allowed", 0)
        opened = gate.ask(parking)
        assert (opened["ok"], opened["item"], opened["units"]) == (True, "PARK-HOUR", 2)
        assert gate.closes() == 1 and gate.pins.read_text().splitlines()[-1] == "GPIO17 0"
    finally:
        gate.stop()


def test_a_bay_cut_off_mid_start_never_starts_that_wash_again(rig: Rig, till: Device) -> None:
    wash, second = redeem(rig, till, "WASH-STANDARD"), redeem(rig, till, "WASH-STANDARD")
    folder = provision(rig, "bay-1", "wash_bay")
    bay = Proc(folder, hold_s=60.0)  # the relay stays closed until the power goes
    assert bay.line()["ready"] == "bay-1"
    bay.ask("WARM-UP")  # not a code: answered once the bay reaches the hub
    bay.send(wash)
    wait_until(lambda: bay.closes() == 1, ANSWER_S, "the relay closed")
    bay.proc.send_signal(signal.SIGKILL)  # the worst moment: written down, relay closed
    assert bay.proc.wait(10) == -signal.SIGKILL
    assert json.loads((folder / JOURNAL_FILE).read_text().splitlines()[-1]) == {
        "code": wash, "done": False
    }  # fmt: skip
    with rig.seeded.hub.engine.connect() as conn:
        used = conn.execute(sa.select(db.vouchers.c.used_ms).where(db.vouchers.c.code == wash))
        assert used.scalar_one() is not None  # the hub consumed it before the relay moved
    again = Proc(folder, hold_s=0.1)
    try:
        assert again.line()["alarms"] == [ALARM_BAY_INTERRUPTED]
        assert again.ask(wash)["error"] == "already_started" and again.closes() == 1
        started = again.ask(second)
        assert started["ok"] and again.closes() == 2
        again.send("!health")
        wait_until(lambda: _reader_of(rig, "bay-1") == "fault", ANSWER_S, "the bay's health")
        with rig.seeded.hub.engine.connect() as conn:
            rows = fleet(conn, WebSettings(), None)
            found = alerts.compute(conn, WebSettings(), {d["id"]: d for d in rows}, [])
        mine = [a for a in found if a.kind == "reader" and "bay-1" in a.message]
        assert mine and "power cut" in mine[0].message
    finally:
        again.stop()


def _reader_of(rig: Rig, device_id: str) -> str:
    with rig.seeded.hub.engine.connect() as conn:
        health = conn.execute(
            sa.select(db.devices.c.health).where(db.devices.c.id == device_id)
        ).scalar_one()
    return str(json.loads(health or "{}").get("reader", ""))
