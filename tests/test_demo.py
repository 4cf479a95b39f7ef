"""The README's first command: `tapcard demo`, headless and with windows.

Scenario: a newcomer runs the demo without a display and sees the balances the hub
booked and a clean ledger; with windows (offscreen SDL here) the kiosk and terminal
start, a card tapped from the command line reaches the kiosk's reader, and Ctrl-C
stops everything with exit code 0. A second run goes on from where the first stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_headless_demo_prints_balances_twice(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "launcher.cli", "demo", "--data", str(tmp_path / "demo")]
    for run in range(2):
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=120, env=_env(), check=False
        )
        assert done.returncode == 0, done.stderr
        assert "ledger verify: clean" in done.stdout
        assert f"{5 * (run + 1)} transfers" in done.stdout
        assert "Traceback" not in done.stdout + done.stderr


def test_windowed_demo_runs_kiosk_and_terminal(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    env = {**_env(), "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
    demo = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "demo", "--windows", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert demo.stdout is not None
        lines = []
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and "Ctrl-C" not in "".join(lines):
            lines.append(demo.stdout.readline())
        assert "Ctrl-C" in "".join(lines), "".join(lines)
        tap = [
            sys.executable,
            "-m",
            "launcher.cli",
            "device",
            "tap",
            "C100001",
            "--data",
            str(data / "demo-kiosk-ui"),
            "--issuer-key",
            str(data / "keys/issuer.key"),
        ]
        answer, why = "", ""
        while time.monotonic() < deadline and answer != "ok":
            done = subprocess.run(
                tap, capture_output=True, text=True, timeout=30, env=_env(), check=False
            )
            answer, why = done.stdout.strip(), done.stderr.strip()
            time.sleep(0.5)  # the kiosk's reader socket opens once its window is up
        assert answer == "ok", f"tap answered {answer!r}: {why}"
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=60)
    rest = demo.stdout.read() if demo.stdout else ""
    if demo.stdout is not None:
        demo.stdout.close()
    output = "".join(lines) + rest
    assert code == 0, output
    assert "Traceback" not in output, output


def test_an_old_demo_folder_gets_the_recurring_sample(tmp_path: Path) -> None:
    """A demo folder from before the rules recurred holds campaigns dated 2026: the
    demo loads today's sample over it as the next version, and leaves rules that
    someone else loaded alone."""
    from dataclasses import replace

    from hub.app import Hub
    from hub.config import HubConfig
    from hub.rulestore import parse_rules, store_rules
    from launcher.demo_seed import ACTOR, load_sample_rules
    from tapcard.samples import sample_rules_bytes

    old = parse_rules((ROOT / "tests/domain/data/rules_flat_2026.json").read_bytes())
    sample = parse_rules(sample_rules_bytes())
    for loaded_by, expected_version in ((ACTOR, 2), ("hq-operator", 1)):
        folder = tmp_path / loaded_by
        hub = Hub.init(HubConfig(folder, f"sqlite:///{folder / 'hub.sqlite3'}", None))
        try:
            with hub.transaction() as conn:
                store_rules(conn, replace(old, version=1), loaded_by)
            for _ in range(2):  # a second start changes nothing more
                load_sample_rules(hub)
            assert hub.rules.latest_version() == expected_version
            if loaded_by == ACTOR:
                assert hub.rules.latest() == replace(sample, version=2)
        finally:
            hub.close()
