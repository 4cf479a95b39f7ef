"""Pairing a kiosk with a wash bay from the CLI (hub/bays.py): a kiosk and a wash bay of
one branch, shown with the label the member is told, ended with --off. The start
itself is tested with real processes in tests/device/test_gate_bay_start.py. And a
member QR at a gate or a bay over the staff channel (GateCard), on SQLite and PostgreSQL."""

from __future__ import annotations

from hub import member_qr
from hub.staff import handle
from tapcard.wire import staff_messages as sm
from tests.hub.test_cli import Cli, hub_cli
from tests.hub.test_gates import Park, park, redeem

__all__ = ["hub_cli", "park"]  # the fixtures, used by name


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


def test_a_refused_member_qr_stays_unused(park: Park) -> None:
    """At the gate the member holds no parking voucher: refused, and the QR is not
    spent; the bay then takes it for the wash; a second scan is refused as used."""
    wash = redeem(park, "WASH-STANDARD")
    code = member_qr.make(park.hub.secrets, park.card, park.clock.now_ms()).text

    def show(device: str, op: sm.GateCard) -> sm.StaffReply:
        kind = "gate" if device == "gate-1" else "wash_bay"
        return handle(park.hub, sm.StaffRequest(device=device, staff=kind, op=op), "shop-1")

    assert show("gate-1", sm.GateCard(qr=code)).error == "no_voucher"
    started = show("bay-1", sm.GateCard(qr=code))
    assert (started.error, started.voucher, started.item) == ("", wash, "WASH-STANDARD")
    assert show("bay-1", sm.GateCard(qr=code)).error == "qr_used"
    both = sm.GateCard(card_id=park.card, qr=code)
    assert show("bay-1", both).error == "invalid"
