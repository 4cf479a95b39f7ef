"""The receipt printer: a `Printer` protocol, and the ESC/POS printer behind it through
python-escpos (USB, network, serial, or a file / its Dummy in tests).

The printer is configured per device in `DATA/printer.json` (docs/device.md); without
that file the device prints nothing. Text goes out in GB18030 with the printer's
Chinese mode on (FS &), as the common 58/80 mm Chinese thermal printers expect: one
encoding for the whole receipt, so English and Chinese never switch code pages midway.
The yen sign is sent full width (A3 A4), which every GB2312 font has. A fault (no paper,
unplugged, unreachable) is a `PrinterError`; callers show it and never let it block
the booking it follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol

import msgspec

from tapcard.errors import TapcardError
from tapcard.receipts.content import COLUMNS_BY_PAPER_MM, Printout, layout, printable

if TYPE_CHECKING:
    from escpos.escpos import Escpos

PRINTER_FILE: Final = "printer.json"
PRINTER_FILE_BYTES_MAX: Final = 4096
NETWORK_TIMEOUT_S: Final = 5.0
QR_DOT_SIZE: Final = 6  # module size in dots: about 25 mm for a short voucher code
QR_CHARS_MAX: Final = 256
FS_CHINESE_ON: Final = b"\x1c\x26"  # FS &: two-byte (GB) characters on
FEED_LINES: Final = 3  # paper fed before the cut, so the last line clears the blade


class PrinterError(TapcardError):
    """The printer cannot print now: the message says why, for the screen."""


class PrinterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    connection: Literal["usb", "network", "serial", "file"]
    paper_mm: Literal[58, 80] = 80
    usb_vendor: int = 0  # usb: the printer's vendor and product ids (lsusb)
    usb_product: int = 0
    host: str = ""  # network: the printer's address, raw port 9100
    port: int = 9100
    device: str = ""  # serial: /dev/ttyUSB0; file: /dev/usb/lp0 or a path
    baudrate: int = 9600
    branch_name: str = ""  # printed at the top (the branch id when empty)


class Printer(Protocol):
    @property
    def branch_name(self) -> str: ...

    def print_out(self, printout: Printout, reprint_mark: str = "") -> None:
        """Print one receipt; raises PrinterError."""
        ...


def encode(text: str) -> bytes:
    """Text as the printer's GB18030 font takes it (¥ full width, see `printable`)."""
    return printable(text).encode("gb18030", errors="replace")


class EscposPrinter:
    """A receipt on any python-escpos printer object."""

    def __init__(self, driver: Escpos, paper_mm: int = 80, branch_name: str = "") -> None:
        self.driver = driver
        self.columns = COLUMNS_BY_PAPER_MM[paper_mm]
        self._branch_name = branch_name

    @property
    def branch_name(self) -> str:
        return self._branch_name

    def print_out(self, printout: Printout, reprint_mark: str = "") -> None:
        from escpos.exceptions import Error as EscposError

        d = self.driver
        lines = layout(printout, self.columns, reprint_mark)
        body = b"".join(encode(line) + b"\n" for line in lines)
        try:
            d.hw("INIT")
            d._raw(FS_CHINESE_ON)
            d._raw(body)
            if printout.qr:
                d.qr(printout.qr[:QR_CHARS_MAX], size=QR_DOT_SIZE, native=True)
                d._raw(encode(printout.qr[:QR_CHARS_MAX]) + b"\n")
            d._raw(b"\n" * FEED_LINES)
            d.cut()
        except (EscposError, OSError, ValueError) as exc:
            raise PrinterError(f"printer: {exc}"[:200]) from exc


def open_printer(config: PrinterConfig) -> EscposPrinter:
    """The configured printer; it connects when it first prints."""
    from escpos import printer as p

    driver: Escpos
    if config.connection == "usb":
        driver = p.Usb(config.usb_vendor, config.usb_product)
    elif config.connection == "network":
        driver = p.Network(config.host, config.port, timeout=NETWORK_TIMEOUT_S)
    elif config.connection == "serial":
        driver = p.Serial(config.device, baudrate=config.baudrate)
    else:
        driver = p.File(config.device)
    return EscposPrinter(driver, config.paper_mm, config.branch_name)


def load_printer(data_dir: Path) -> EscposPrinter | None:
    """The printer `DATA/printer.json` names, or None when there is no such file."""
    path = data_dir / PRINTER_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PrinterError(f"{path} cannot be read: {exc.strerror}") from None
    if len(data) > PRINTER_FILE_BYTES_MAX:
        raise PrinterError(f"{path} is larger than {PRINTER_FILE_BYTES_MAX} bytes")
    try:
        config = msgspec.json.decode(data, type=PrinterConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PrinterError(f"{path}: {exc}") from None
    return open_printer(config)
