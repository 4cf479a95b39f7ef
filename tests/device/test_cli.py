"""The `tapcard device` command on a real hub.

Scenario: an installer provisions a kiosk from its bundle and starts it headless
(`tapcard device run`); from a second shell a simulated card is tapped
(`tapcard device tap`) and the running device shows the card's balances from the hub.
`tapcard device status --json` reports the link up and the rule set in use; SIGINT
stops the device cleanly (exit 0).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.device.conftest import Rig, bundle_json, wait_until

REPO = Path(__file__).resolve().parents[2]


def _tapcard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_run_tap_status_stop(rig: Rig, tmp_path: Path) -> None:
    card = rig.seeded.cards[0]
    source = tmp_path / "bundle.json"
    source.write_bytes(bundle_json(rig.seeded, "kiosk-4", rig.broker))
    data = str(tmp_path / "dev")
    assert _tapcard("device", "provision", str(source), "--data", data).returncode == 0
    run = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "device", "run", "--data", data],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert run.stdout is not None
        assert "running" in run.stdout.readline()

        def status() -> dict[str, object]:
            done = _tapcard("device", "status", "--json", "--data", data)
            assert done.returncode == 0, done.stderr
            return dict(json.loads(done.stdout))

        wait_until(
            lambda: status()["rules_version"] == 1 and bool(status()["link_connected"]),
            what="device up",
        )
        issuer = str(rig.seeded.hub.config.data_dir / "keys" / "issuer.key")
        tapped = _tapcard("device", "tap", card, "--issuer-key", issuer, "--data", data)
        assert tapped.returncode == 0 and tapped.stdout.strip() == "ok", tapped.stderr
        line = run.stdout.readline()
        assert f"card {card} online=True state=active" in line
        assert _tapcard("device", "tap", "--remove", "--data", data).returncode == 0
    finally:
        run.send_signal(signal.SIGINT)
        code = run.wait(15)
        if run.stdout is not None:
            run.stdout.close()
    assert code == 0
    time.sleep(0.1)
    assert status_offline(data)


def status_offline(data: str) -> bool:
    done = _tapcard("device", "status", "--json", "--data", data)
    return done.returncode == 0 and json.loads(done.stdout)["outbox_depth"] == 0
