"""Translations: gettext .po catalogs, read directly (no compile step), English msgids.

`Translator(lang)` looks a text up in `locale/<lang>/LC_MESSAGES/tapcard.po`; an English
text with no entry shows as itself, so a missing translation is visible, never a crash
(and tests/ui checks that every text the UI uses has a Chinese entry).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Final

LANGUAGES: Final = ("zh", "en")
LANGUAGE_DEFAULT: Final = "zh"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "tapcard"
CATALOG_ENTRIES_MAX: Final = 5000
# Fonts that render Chinese, in order of preference (Debian packages in scripts/setup).
CJK_FONTS: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a .po file (single and continued lines; no plurals)."""
    table: dict[str, str] = {}
    msgid: list[str] = []
    msgstr: list[str] = []
    current: list[str] | None = None
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line.startswith("msgid "):
            _store(table, msgid, msgstr)
            msgid, msgstr = [ast.literal_eval(line[6:])], []
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [ast.literal_eval(line[7:])]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        elif not line or line.startswith("#"):
            current = None
        assert len(table) <= CATALOG_ENTRIES_MAX
    _store(table, msgid, msgstr)
    return table


def _store(table: dict[str, str], msgid: list[str], msgstr: list[str]) -> None:
    key, value = "".join(msgid), "".join(msgstr)
    if key and value:
        table[key] = value


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    return parse_po(path.read_text(encoding="utf-8"))


class Translator:
    def __init__(self, lang: str = LANGUAGE_DEFAULT) -> None:
        assert lang in LANGUAGES, lang
        self.lang = lang
        self._table = catalog(lang)

    def __call__(self, msgid: str, **values: object) -> str:
        text = self._table.get(msgid, msgid)
        return text.format(**values) if values else text

    def other(self) -> str:
        """The language the toggle switches to."""
        return LANGUAGES[(LANGUAGES.index(self.lang) + 1) % len(LANGUAGES)]


def cjk_font_path() -> str | None:
    for path in CJK_FONTS:
        if Path(path).exists():
            return path
    return None
