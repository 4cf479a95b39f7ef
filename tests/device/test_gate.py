"""The gate and the wash bay on gpiozero's mock pins: the relay moves only on the hub's
yes, a bay starts once per code, and never again after a power cut.

The hub is a function here (its side is tests/hub/test_gates.py); the relay and the
fault input are real gpiozero devices on MockFactory pins, whose state history is read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device, DigitalInputDevice, OutputDevice
from gpiozero.pins.mock import MockFactory

from tapcard.device.gate import (
    ALARM_BAY_FAULT,
    ALARM_BAY_INTERRUPTED,
    GATE_OPEN_S,
    Answer,
    Bay,
    BayJournal,
    Gate,
)

RELAY_PIN, FAULT_PIN = 17, 27


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = None


def pulses(factory: MockFactory) -> int:
    """How many times the relay pin went high."""
    states = [s.state for s in factory.pin(RELAY_PIN).states]
    return sum(1 for a, b in itertools.pairwise(states) if not a and b)


class Hub:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, code: str) -> Answer:
        self.asked.append(code)
        if code.startswith("W"):
            return Answer(True, item="WASH-STANDARD", units=1)
        return Answer(False, "not_allowed")


def test_the_gate_opens_for_a_yes_only(pins: MockFactory) -> None:
    slept: list[float] = []
    gate = Gate(Hub(), OutputDevice(RELAY_PIN), slept.append)
    assert not gate.handle("P-NO").ok and pulses(pins) == 0
    assert gate.handle("W-1").ok and pulses(pins) == 1 and slept == [GATE_OPEN_S]
    assert not pins.pin(RELAY_PIN).state  # closed again


def test_a_bay_starts_once_per_code(pins: MockFactory, tmp_path: Path) -> None:
    hub = Hub()
    bay = Bay(hub, OutputDevice(RELAY_PIN), BayJournal(tmp_path / "j"), sleep=lambda s: None)
    assert bay.handle("W-1").ok
    second = bay.handle("W-1")  # the hub would answer a quick retry as the first time
    assert (second.ok, second.error) == (False, "already_started")
    assert pulses(pins) == 1 and hub.asked == ["W-1"]


@pytest.mark.parametrize("cut", ["before_pulse", "after_pulse"])
def test_after_a_power_cut_a_bay_never_pulses_again(
    pins: MockFactory, tmp_path: Path, cut: str
) -> None:
    journal = BayJournal(tmp_path / "j")
    journal.write("W-1", done=False)  # the process died here: the code was written ...
    if cut == "after_pulse":
        pins.pin(RELAY_PIN).drive_high()  # ... or the relay had moved too
        pins.pin(RELAY_PIN).drive_low()
    before = pulses(pins)
    hub = Hub()
    restarted = Bay(hub, OutputDevice(RELAY_PIN), BayJournal(tmp_path / "j"), sleep=lambda s: None)
    assert restarted.alarms() == [ALARM_BAY_INTERRUPTED]
    assert restarted.handle("W-1").error == "already_started"
    assert pulses(pins) == before and hub.asked == []
    assert restarted.handle("W-2").ok and pulses(pins) == before + 1  # others still start


def test_a_bay_fault_is_an_alarm_and_starts_nothing(pins: MockFactory, tmp_path: Path) -> None:
    hub = Hub()
    fault = DigitalInputDevice(FAULT_PIN)
    bay = Bay(hub, OutputDevice(RELAY_PIN), BayJournal(tmp_path / "j"), fault, lambda s: None)
    assert bay.alarms() == []
    pins.pin(FAULT_PIN).drive_high()
    assert bay.alarms() == [ALARM_BAY_FAULT]
    assert bay.handle("W-1").error == ALARM_BAY_FAULT and hub.asked == [] and pulses(pins) == 0
    pins.pin(FAULT_PIN).drive_low()
    assert bay.handle("W-1").ok and pulses(pins) == 1


def test_a_torn_journal_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "j"
    BayJournal(path).write("W-1", done=True)
    with path.open("a") as out:
        out.write('{"code": "W-')  # the power went mid-write
    journal = BayJournal(path)
    assert journal.knows("W-1") and journal.interrupted == set()
