"""`tapcard deploy units` writes exactly the files in systemd/, and refuses a folder it
cannot write into without changing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.cli import main as tapcard_main
from tapcard.deploy import STAGED_SUFFIX

UNITS = Path(__file__).resolve().parents[2] / "systemd"


def _deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "deploy", "units", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_written_files_equal_the_ones_in_systemd(tmp_path: Path) -> None:
    out = tmp_path / "new" / "units"
    done = _deploy("--out", str(out))
    assert done.returncode == 0, done.stderr
    expected = sorted(p.name for p in UNITS.iterdir())
    assert sorted(p.name for p in out.iterdir()) == expected
    assert "tapcard-hub.service" in expected and "tapcard.sysusers.conf" in expected
    for name in expected:
        assert (out / name).read_bytes() == (UNITS / name).read_bytes(), name
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
    assert f"wrote {len(expected)} files to {out}/" in done.stdout


def test_default_folder_and_older_copies_replaced(tmp_path: Path) -> None:
    (tmp_path / "systemd").mkdir()
    (tmp_path / "systemd" / "tapcard-hub.service").write_text("[Service]\nExecStart=/old\n")
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "deploy", "units"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = tmp_path / "systemd" / "tapcard-hub.service"
    assert written.read_bytes() == (UNITS / "tapcard-hub.service").read_bytes()


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "units"
    blocker.write_text("not a folder")
    done = _deploy("--out", str(blocker / "sub"))
    assert done.returncode == 2
    assert done.stderr == f"error: cannot write the units to {blocker / 'sub'}: Not a directory\n"
    done = _deploy("--out", str(blocker))
    assert (done.returncode, done.stderr) == (2, f"error: {blocker} is not a folder\n")
    assert blocker.read_text() == "not a folder"


def test_a_folder_in_the_way_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "units"
    (out / "tapcard-kiosk.service").mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    assert tapcard_main(["deploy", "units", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {out} has folders where the units go: tapcard-kiosk.service\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "tapcard-kiosk.service"]


def test_a_write_failing_midway_leaves_the_folder_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tapcard-kiosk unit cannot be staged (its temp name is taken by a folder) after
    the files before it were: those are removed again, and no unit reaches the folder."""
    out = tmp_path / "units"
    (out / ("tapcard-kiosk.service" + STAGED_SUFFIX)).mkdir(parents=True)
    assert tapcard_main(["deploy", "units", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: cannot write the units to {out}: Is a directory\n")
    assert [p.name for p in out.iterdir()] == ["tapcard-kiosk.service" + STAGED_SUFFIX]
