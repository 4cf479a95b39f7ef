"""A legacy 会员系统's member export, read row by row: CSV or Excel, Chinese or English
headers, UTF-8 or GB18030, each row checked on its own (hub/member_import.py checks
what needs the others and the database).

Columns are found by their header, in either language (HEADERS); their order does not
matter and unknown columns are ignored. `name` and `phone` are required. Amounts are in
yuan ("1,234.50", "¥12"), dates ISO (2026-06-10), with slashes or as 20260610, tags
separated by ";", "|" or "、". The rows are read twice (a check, then the writes), so a
file of a million rows is never held in memory.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tapcard.domain import profile
from tapcard.domain.model import CARD_ID_RE
from tapcard.errors import ValidationError

ENCODING_CHECK_BYTES: Final = 1 << 20  # read in chunks this big to tell UTF-8 from GB18030
TAGS_PER_MEMBER_MAX: Final = 16
TAG_CHARS_MAX: Final = 48
POINTS_MAX: Final = 10**12

# Each field and the headers that name it: ours, then the usual ones of Chinese systems.
HEADERS: Final[Mapping[str, tuple[str, ...]]] = {
    "name": ("name", "姓名", "会员姓名", "客户姓名"),
    "phone": ("phone", "mobile", "手机", "手机号", "手机号码", "电话"),
    "card_id": ("card_id", "card", "card_no", "卡号", "会员卡号"),
    "id_number": ("id_number", "身份证", "身份证号", "证件号码"),
    "birthday": ("birthday", "生日", "出生日期"),
    "address": ("address", "地址", "联系地址"),
    "tier": ("tier", "level", "等级", "会员等级"),
    "points": ("points", "积分", "可用积分"),
    "balance": ("balance_yuan", "balance", "stored_value", "余额", "储值余额", "卡内余额"),
    "joined_on": ("joined_on", "入会日期", "注册日期", "开卡日期"),
    "expires_on": ("expires_on", "有效期", "到期日期"),
    "tags": ("tags", "标签"),
    "branch": ("branch", "门店", "开卡门店"),
}
REQUIRED: Final = ("name", "phone")
# ";", "|" and the ideographic comma and full-width semicolon that Chinese text uses
_TAG_SPLIT: Final = re.compile("[;|\u3001\uff1b]")
_DATE_FORMATS: Final = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as the file gives it, each field checked on its own."""

    line: int  # in the file, the header being line 1
    name: str
    phone: str
    card_id: str
    id_number: str
    birthday: dt.date | None
    address: str
    tier: str  # as written; the import maps it to a tier of the rules
    points: int
    balance_cents: int
    joined_on: dt.date | None
    expires_on: dt.date | None
    tags: tuple[str, ...]
    branch: str


class RowError(ValueError):
    """A row that cannot be imported, with its line number in the message."""


def _encoding(path: Path) -> str:
    """UTF-8 (with or without a BOM) if every byte decodes as it, else GB18030, which
    the Chinese systems that are not UTF-8 write (it is a superset of GBK and GB2312)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        try:
            while chunk := f.read(ENCODING_CHECK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig"


def _text(value: object) -> str:
    """A cell as text: Excel gives numbers for phones and amounts, datetimes for dates."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # only an Excel import needs it

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_text(v) for v in values]
    finally:
        book.close()


def raw_rows(path: Path) -> Iterator[list[str]]:
    """The file's rows as text cells, the header first."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
        return
    with path.open(newline="", encoding=_encoding(path)) as f:
        for row in csv.reader(f):
            yield [cell.strip() for cell in row]


def columns_of(header: list[str]) -> dict[str, int]:
    """Field -> column index, from the header; a missing required column is an error."""
    found: dict[str, int] = {}
    wanted = {alias.lower(): field for field, aliases in HEADERS.items() for alias in aliases}
    for index, title in enumerate(header):
        field = wanted.get(title.strip().lower())
        if field is not None and field not in found:
            found[field] = index
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        known = ", ".join(HEADERS[missing[0]])
        raise ValidationError(f"the file has no {missing[0]} column (its header may be: {known})")
    return found


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    for form in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
    raise ValueError(f"{what} {text!r} is not a date (2026-06-10)")


def _points(text: str) -> int:
    if not text:
        return 0
    clean = text.replace(",", "")
    if not clean.isdigit() or int(clean) > POINTS_MAX:
        raise ValueError(f"points {text!r} are not a whole number from 0")
    return int(clean)


def _cents(text: str) -> int:
    from hub.products import cents_of_yuan  # the one yuan parser of the hub's files

    return cents_of_yuan(text) if text else 0


def _tags(text: str) -> tuple[str, ...]:
    tags = tuple(sorted({t.strip() for t in _TAG_SPLIT.split(text) if t.strip()}))
    if len(tags) > TAGS_PER_MEMBER_MAX or any(len(t) > TAG_CHARS_MAX for t in tags):
        raise ValueError(f"at most {TAGS_PER_MEMBER_MAX} tags of {TAG_CHARS_MAX} characters")
    return tags


def parse_row(line: int, cells: list[str], columns: Mapping[str, int]) -> MemberRow:
    """One data row, checked on its own; RowError names the line and what is wrong."""

    def get(field: str) -> str:
        index = columns.get(field)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    try:
        name, phone, id_number, address = (
            get("name"),
            get("phone"),
            get("id_number"),
            get("address"),
        )
        for error in (
            profile.name_error(name),
            profile.phone_error(phone),
            profile.id_number_error(id_number),
            profile.address_error(address),
        ):
            if error:
                raise ValueError(error)
        card_id = get("card_id")
        if card_id and not CARD_ID_RE.match(card_id):
            raise ValueError(f"card number {card_id!r} is not 1-32 letters, digits or '-'")
        return MemberRow(
            line=line,
            name=name,
            phone=phone,
            card_id=card_id,
            id_number=id_number,
            birthday=_date(get("birthday"), "birthday"),
            address=address,
            tier=get("tier"),
            points=_points(get("points")),
            balance_cents=_cents(get("balance")),
            joined_on=_date(get("joined_on"), "joining date"),
            expires_on=_date(get("expires_on"), "expiry date"),
            tags=_tags(get("tags")),
            branch=get("branch"),
        )
    except ValueError as exc:
        raise RowError(f"line {line}: {exc}") from None


def member_rows(path: Path) -> Iterator[MemberRow | RowError]:
    """Every data row of the file, parsed, or the error that refuses it (blank rows are
    skipped); the header's problems raise ValidationError before any row."""
    rows = raw_rows(path)
    header = next(rows, None)
    if header is None:
        raise ValidationError(f"{path.name} is empty")
    columns = columns_of(header)
    for line, cells in enumerate(rows, start=2):
        if not any(cells):
            continue
        try:
            yield parse_row(line, cells, columns)
        except RowError as exc:
            yield exc
