"""Printed receipts at the counter, on a real hub and mosquitto, to python-escpos's
Dummy printer: a sale's receipt bytes (branch, items, tender, points, balance after,
the reference a refund accepts, the cut), the reprint, and a printer fault that leaves
the sale booked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from escpos.printer import Dummy, File

from tapcard.domain.model import Payment
from tapcard.receipts.printer import FS_CHINESE_ON, EscposPrinter
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till

GS_CUT = b"\x1dV"


def _sell(till: Till, printer: EscposPrinter) -> Any:
    till.presenter.transactions.receipts.printer = printer
    till.presenter.login("ann", PIN)
    till.wait("home", "login")
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    till.presenter.sale()
    till.presenter.add_line("grocery", "12.50", 2)
    till.presenter.pay(Payment.CASH)
    till.confirm()
    return till.wait("receipt")


def test_a_sale_prints_its_receipt_and_keeps_it_for_a_reprint(till: Till) -> None:
    dummy = Dummy()
    view = _sell(till, EscposPrinter(dummy, 58, "人民路店"))
    wait_until(lambda: GS_CUT in dummy.output, what="receipt printed")
    out = dummy.output
    assert out.startswith(b"\x1b@" + FS_CHINESE_ON)
    assert "人民路店".encode("gb18030") in out  # the branch, in GB18030
    assert b"Grocery \xa1\xc1 2" in out  # the item and its quantity (x is A1 C1)
    assert b"\xa3\xa425.00" in out  # its price, the yen full width
    assert b"Cash " in out and b"Points earned" in out
    ref = next(line for line in view.lines if line.startswith("Reference: "))
    assert ref.encode() in out  # SEQ/ID8, as the refund lookup takes it
    till.presenter.reprint()
    wait_until(lambda: out.count(GS_CUT) < dummy.output.count(GS_CUT), what="reprint")
    assert getattr(till.wait("message"), "title", "") == "Reprinted"
    assert dummy.output.count(ref.encode()) == 2 and b"Reprint" in dummy.output[len(out) :]


def test_a_printer_fault_is_shown_and_the_sale_stands(till: Till, tmp_path: Path) -> None:
    broken = EscposPrinter(File(str(tmp_path / "gone" / "lp0")), 80)
    view = _sell(till, broken)
    assert any(line.startswith("Points earned") for line in view.lines)
    wait_until(
        lambda: any("Printer fault" in line for line in getattr(till.presenter.view, "lines", ())),
        what="printer fault shown",
    )
    assert till.presenter.shift.counts["sale"] == 1  # booked all the same
    assert till.presenter.transactions.receipts.store.last() is not None  # kept to reprint
