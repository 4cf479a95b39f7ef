"""A gate or a wash bay in its own process, for the process and kill -9 tests:
`python -m tests.device.gate_proc DATA_DIR PIN_LOG HOLD_S` runs `tapcard device gate`'s
program (codes on stdin) on gpiozero's MockFactory, whose pins append each change of
state to PIN_LOG ("17 1", fsynced): the relay's wire as the parent test sees it, kept
across a kill. HOLD_S is how long the gate stays open and the bay's start pulse lasts
(a long pulse gives the test its moment to cut the power with the relay closed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin

from tapcard.device import gate
from tapcard.device.gate_run import run_gate

RELAY_PIN, FAULT_PIN = 17, 27


def main(data_dir: Path, pin_log: Path, hold_s: float) -> int:
    class LoggedPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
        def _change_state(self, value: Any) -> bool:
            changed = bool(super()._change_state(value))
            if changed:
                with pin_log.open("a") as out:
                    out.write(f"{self.info.name} {int(bool(value))}\n")
                    out.flush()
                    os.fsync(out.fileno())
            return changed

    Device.pin_factory = MockFactory(pin_class=LoggedPin)
    gate.GATE_OPEN_S = hold_s  # type: ignore[misc]  # the test's short opening
    gate.BAY_PULSE_S = hold_s  # type: ignore[misc]
    return run_gate(data_dir, RELAY_PIN, FAULT_PIN, sys.stdin)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])))
