"""Pairing a kiosk with a wash bay from the CLI (hub/bays.py): a kiosk and a wash bay of
one branch, shown with the label the member is told, ended with --off. The start
itself is tested with real processes in tests/device/test_gate_bay_start.py."""

from __future__ import annotations

from tests.hub.test_cli import Cli, hub_cli

__all__ = ["hub_cli"]  # the fixture, used by name


def test_a_kiosk_is_paired_with_a_bay_of_its_branch(hub_cli: Cli) -> None:
    run = hub_cli
    for device, kind in (("kiosk-1", "kiosk"), ("bay-2", "wash_bay"), ("gate-1", "gate")):
        out = str(run.data / f"{device}.json")
        run.ok("device", "add", device, "--branch", "shop-1", "--kind", kind, "--out", out)
    refused = run.error("device", "pair-bay", "kiosk-1", "gate-1")
    assert "must be a kiosk and gate-1 a wash bay" in refused
    assert "no device bay-9" in run.error("device", "pair-bay", "kiosk-1", "bay-9")
    out = run.ok("device", "pair-bay", "kiosk-1", "bay-2", "--label", "2")
    assert out == "kiosk kiosk-1 starts wash bay bay-2 (shown as bay 2)\n"
    assert run.json("device", "bays") == [{"kiosk": "kiosk-1", "bay": "bay-2", "label": "2"}]
    assert run.ok("device", "pair-bay", "kiosk-1", "--off") == "kiosk kiosk-1 unpaired\n"
    assert run.json("device", "bays") == []
