"""An install without the `kivy` extra, as an HQ server has it.

Scenario: an operator installs `tapcard` on the HQ server without Kivy. The hub, the
headless demo and the device commands work; `tapcard kiosk`, `tapcard terminal` and the
windowed demo say in one line which extra to install, without a traceback, and change
nothing. Kivy is installed in the test venv, so each child process blocks it at the
import system (`sys.modules["kivy"] = None` makes every `import kivy...` fail), which
is what a missing package looks like to the code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 120
WITHOUT_KIVY = "import sys; sys.modules['kivy'] = None\n"
TAPCARD = WITHOUT_KIVY + "from launcher.cli import main; sys.exit(main(sys.argv[1:]))"
# Every hub module but the migrations (alembic runs those, with its own context).
IMPORT_HUB = WITHOUT_KIVY + (
    "import importlib, pkgutil, hub\n"
    "names = [m.name for m in pkgutil.walk_packages(hub.__path__, 'hub.')\n"
    "         if not m.name.startswith('hub.migrations')]\n"
    "for name in names: importlib.import_module(name)\n"
    "print(len(names), 'hub modules imported')"
)


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("program", ["kiosk", "terminal"])
def test_device_apps_name_the_extra(program: str, tmp_path: Path) -> None:
    done = _run(TAPCARD, program, "--data", str(tmp_path / "device"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: tapcard {program} needs Kivy")
    assert "pip install 'tapcard[kivy]'" in done.stderr
    assert not (tmp_path / "device").exists()


def test_windowed_demo_names_the_extra_and_the_headless_demo(tmp_path: Path) -> None:
    done = _run(TAPCARD, "demo", "--windows", "--data", str(tmp_path / "demo"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "pip install 'tapcard[kivy]'" in done.stderr
    assert "tapcard demo --headless" in done.stderr
    assert not (tmp_path / "demo").exists(), "the demo seeded a hub before refusing"


def test_headless_demo_runs_without_kivy(tmp_path: Path) -> None:
    done = _run(TAPCARD, "demo", "--data", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ledger verify: clean" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_every_hub_module_imports_without_kivy() -> None:
    done = _run(IMPORT_HUB)
    assert done.returncode == 0, done.stderr
    count = int(done.stdout.split()[0])
    assert count > 20, done.stdout
