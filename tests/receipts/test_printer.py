"""Receipts through python-escpos's Dummy printer and a real file: the bytes a thermal
printer gets (init, Chinese mode, GB18030 text, the native QR command, the cut)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from escpos.printer import Dummy

from tapcard.receipts.content import Printout, layout, width
from tapcard.receipts.printer import (
    FS_CHINESE_ON,
    EscposPrinter,
    PrinterError,
    load_printer,
)
from tapcard.receipts.store import RECEIPTS_KEPT_MAX, ReceiptStore

ESC_INIT = b"\x1b@"
GS_CUT = b"\x1dV"

SALE = Printout(
    title="销售 Sale",
    header=("人民路加油站", "2029-03-01 10:15", "收银员 Li Na"),
    items=(("洗车 Car wash \u00d7 2", "¥60.00"), ("Fuel \u00d7 1", "¥200.00")),
    totals=(("会员价 Member price", "-¥10.00"), ("现金 Cash", "¥250.00")),
    footer=("参考号 Reference: 17/3f2a9c1d",),
    qr="VW-7Q2M",
    kind="sale",
)


def qr_store_command(data: bytes) -> bytes:
    """GS ( k pL pH cn=49 fn=80 m=48 data: store the QR symbol's data."""
    size = len(data) + 3
    return b"\x1d(k" + bytes([size % 256, size // 256]) + b"1P0" + data


def test_a_receipt_starts_with_init_then_chinese_mode_and_ends_with_the_cut() -> None:
    dummy = Dummy()
    EscposPrinter(dummy, 58).print_out(SALE)
    out = dummy.output
    assert out.startswith(ESC_INIT + FS_CHINESE_ON)
    assert out.endswith(GS_CUT + b"\x00")  # GS V 0: the full cut, last
    assert out.index(GS_CUT) > out.index("参考号".encode("gb18030"))


def test_chinese_text_goes_out_in_gb18030_and_the_yen_sign_full_width() -> None:
    dummy = Dummy()
    EscposPrinter(dummy, 80).print_out(SALE)
    out = dummy.output
    assert "人民路加油站".encode("gb18030") in out
    assert "洗车 Car wash".encode("gb18030") in out
    assert "洗车".encode() not in out
    assert b"\xa3\xa460.00" in out  # ￥ is A3 A4 in GB2312 / GB18030
    assert "¥".encode("gb18030") not in out  # the 4-byte half-width yen never goes out


def test_the_voucher_qr_is_the_printers_own_qr_command_with_the_code() -> None:
    dummy = Dummy()
    EscposPrinter(dummy, 58).print_out(SALE)
    out = dummy.output
    assert qr_store_command(b"VW-7Q2M") in out
    assert b"\x1d(k\x03\x001Q0" in out  # print the stored symbol
    assert out.index(b"\x1d(k") < out.index(GS_CUT)


def test_no_qr_command_without_a_voucher() -> None:
    dummy = Dummy()
    EscposPrinter(dummy, 58).print_out(Printout("充值 Top-up", ("Branch",)))
    assert b"\x1d(k" not in dummy.output


@pytest.mark.parametrize(("paper_mm", "columns"), [(58, 32), (80, 48)])
def test_rows_fit_the_paper_counting_chinese_as_two_columns(paper_mm: int, columns: int) -> None:
    lines = layout(SALE, columns)
    assert all(width(line) <= columns for line in lines)
    priced = [line for line in lines if line.endswith("60.00")]
    assert len(priced) == 1 and width(priced[0]) == columns  # the price flush right


def test_a_reprint_is_marked(tmp_path: Path) -> None:
    dummy = Dummy()
    EscposPrinter(dummy, 58).print_out(SALE, reprint_mark="重印 REPRINT")
    assert "重印 REPRINT".encode("gb18030") in dummy.output


def test_the_configured_file_printer_writes_the_bytes(tmp_path: Path) -> None:
    (tmp_path / "printer.json").write_text(
        json.dumps({"connection": "file", "device": str(tmp_path / "lp0"), "paper_mm": 58})
    )
    printer = load_printer(tmp_path)
    assert printer is not None and printer.columns == 32
    printer.print_out(SALE)
    printer.driver.close()
    written = (tmp_path / "lp0").read_bytes()
    assert written.startswith(ESC_INIT + FS_CHINESE_ON)
    assert qr_store_command(b"VW-7Q2M") in written


def test_no_printer_file_means_no_printer_and_a_bad_one_is_named(tmp_path: Path) -> None:
    assert load_printer(tmp_path) is None
    (tmp_path / "printer.json").write_text('{"connection": "parallel"}')
    with pytest.raises(PrinterError, match=r"printer\.json"):
        load_printer(tmp_path)


def test_a_printer_that_cannot_be_reached_is_a_printer_error(tmp_path: Path) -> None:
    (tmp_path / "printer.json").write_text(
        json.dumps({"connection": "file", "device": str(tmp_path / "no" / "such" / "lp0")})
    )
    printer = load_printer(tmp_path)
    assert printer is not None
    with pytest.raises(PrinterError):
        printer.print_out(SALE)


def test_the_store_keeps_the_newest_receipts_for_a_reprint() -> None:
    docs: dict[str, object] = {}
    store = ReceiptStore(docs.get, docs.__setitem__)
    assert store.last() is None
    for n in range(RECEIPTS_KEPT_MAX + 5):
        store.keep(Printout(f"Sale {n}", ("Branch",), (("洗车", "¥1.00"),), qr=f"V{n}"))
    recent = store.recent()
    assert len(recent) == RECEIPTS_KEPT_MAX
    last = store.last()
    assert last is not None and last.title == f"Sale {RECEIPTS_KEPT_MAX + 4}"
    assert last.items == (("洗车", "¥1.00"),) and last.qr == f"V{RECEIPTS_KEPT_MAX + 4}"
    json.dumps(docs)  # what the document store is given is plain JSON
