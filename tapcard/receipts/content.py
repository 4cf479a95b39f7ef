"""A receipt as printed: display text already translated by the presenter, laid out in
the paper's columns. Pure: no printer, no I/O.

A thermal printer's font A gives 32 columns on 58 mm paper and 48 on 80 mm; a Chinese
character takes two columns, so widths are counted by East Asian width, not length.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

COLUMNS_BY_PAPER_MM: Final = {58: 32, 80: 48}
LINES_MAX: Final = 200  # a receipt longer than this is cut short (a runaway list)

Row = tuple[str, str]  # (label, value): the value is set flush right


@dataclass(frozen=True, slots=True)
class Printout:
    """One receipt: the branch and who/when, the items, the totals (discounts,
    tenders, points, balance after), the reference refund and backfill accept, and the
    QR a voucher is redeemed with."""

    title: str
    header: tuple[str, ...]  # branch, time, staff, card
    items: tuple[Row, ...] = ()  # name x qty, price
    totals: tuple[Row, ...] = ()
    footer: tuple[str, ...] = ()  # reference, offline notice
    qr: str = ""  # the voucher's code, printed as a QR (ESC/POS GS ( k)
    at_ms: int = 0
    kind: str = ""  # sale, topup, redeem, renewal, refund, ...

    def to_doc(self) -> dict[str, object]:
        return {
            "title": self.title,
            "header": list(self.header),
            "items": [list(row) for row in self.items],
            "totals": [list(row) for row in self.totals],
            "footer": list(self.footer),
            "qr": self.qr,
            "at_ms": self.at_ms,
            "kind": self.kind,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> Printout:
        def rows(key: str) -> tuple[Row, ...]:
            value = doc.get(key) or []
            assert isinstance(value, list)
            return tuple((str(r[0]), str(r[1])) for r in value)

        def texts(key: str) -> tuple[str, ...]:
            value = doc.get(key) or []
            assert isinstance(value, list)
            return tuple(str(v) for v in value)

        at_ms = doc.get("at_ms", 0)
        return cls(
            title=str(doc.get("title", "")),
            header=texts("header"),
            items=rows("items"),
            totals=rows("totals"),
            footer=texts("footer"),
            qr=str(doc.get("qr", "")),
            at_ms=at_ms if isinstance(at_ms, int) else 0,
            kind=str(doc.get("kind", "")),
        )


def printable(text: str) -> str:
    """Text as the printer's Chinese (GB) font shows it: the yen sign full width, as
    every GB2312 font has it (the half-width one is not in GB2312)."""
    return text.replace("\u00a5", "\uffe5")


def width(text: str) -> int:
    """Columns the text takes on the printer: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def clip(text: str, columns: int) -> str:
    text = printable(text)
    out, used = [], 0
    for ch in text:
        used += width(ch)
        if used > columns:
            break
        out.append(ch)
    return "".join(out)


def row(label: str, value: str, columns: int) -> str:
    """Label left, value right; a label too long for both keeps the value whole."""
    label, value = printable(label), printable(value)
    room = columns - width(value) - 1
    label = clip(label, max(room, 0))
    return label + " " * (columns - width(label) - width(value)) + value


def centre(text: str, columns: int) -> str:
    text = clip(text, columns)
    return " " * ((columns - width(text)) // 2) + text


def layout(printout: Printout, columns: int, reprint_mark: str = "") -> tuple[str, ...]:
    """The receipt's lines for `columns` (the QR is not text: the printer adds it)."""
    rule = "-" * columns
    lines = [centre(printout.title, columns)]
    if reprint_mark:
        lines.append(centre(reprint_mark, columns))
    lines += [clip(text, columns) for text in printout.header]
    if printout.items:
        lines.append(rule)
        lines += [row(label, value, columns) for label, value in printout.items]
    if printout.totals:
        lines.append(rule)
        lines += [row(label, value, columns) for label, value in printout.totals]
    if printout.footer:
        lines.append(rule)
        lines += [clip(text, columns) for text in printout.footer]
    return tuple(printable(line) for line in lines[:LINES_MAX])
