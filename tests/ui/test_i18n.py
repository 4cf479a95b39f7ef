"""Every text the kiosk and terminal show has a Chinese translation.

Scenario: an engineer adds a button `app.t('Refund', app.lang)` or a presenter text
`t("Refunded")` and forgets the catalog: this test lists the msgids that have no zh entry.
"""

from __future__ import annotations

import re
from pathlib import Path

from tapcard.domain.model import CardState, StaffRole
from tapcard.ui import kiosk, refusals
from tapcard.ui.i18n import Translator, catalog, parse_po
from terminal.presenters import desk, refund, sale, session, shift, vouchers

ROOT = Path(__file__).resolve().parents[2]
_CALL = re.compile(r"""\bt\(\s*(["'])((?:(?!\1).)+)\1""")


def used_msgids() -> set[str]:
    found: set[str] = set()
    files = [*ROOT.joinpath("tapcard/ui").glob("*.py"), *ROOT.glob("kiosk/kv/*.kv")]
    files += list(ROOT.glob("terminal/presenters/*.py"))
    files += list(ROOT.glob("terminal/kv/*.kv"))
    for path in files:
        found.update(match[1] for match in _CALL.findall(path.read_text(encoding="utf-8")))
    for title, detail in refusals.REFUSALS.values():
        found.update((title, detail))
    found.update(desk.STAFF_ERRORS.values())
    found.update((desk.HUB_UNREACHABLE, session.OFFLINE_UNCHECKED))
    found.update(vouchers.VOUCHER_ERRORS.values())
    found.update(
        (*refund.REFUND_ERRORS.values(), refund.OFFLINE_LOOKUP, *refund.PAID_BACK.values())
    )
    found.update(("refund_cash", "refund_stored_value", "cash", "stored_value"))
    found.update(shift.SHIFT_LABELS.values())
    found.update(state.value.capitalize() for state in CardState)
    found.update(refusals.COUNTER_TITLES.values())
    found.update(refusals.COUNTER_DETAILS.values())
    found.add(desk.CARD_WRITE_AGAIN)
    found.update(sale.CATEGORIES)
    found.update(
        k.capitalize()
        for k in (
            "sale",
            "topup",
            "spend",
            "redeem",
            "renewal",
            "backfill",
            "card_issued",
            "refund",
        )
    )
    found.update(role.value for role in StaffRole)
    found.update(("sale_cash", "sale_stored_value", "topup", "spend"))
    found.update(("fee_cash", "fee_stored_value", "Reversal"))
    found.update(n.capitalize() for n in kiosk.TIER_NAMES)
    return found


def test_every_text_has_a_chinese_entry() -> None:
    missing = sorted(used_msgids() - set(catalog("zh")))
    assert not missing, "no zh translation for:\n" + "\n".join(missing)


def test_placeholders_survive_translation() -> None:
    for msgid, text in catalog("zh").items():
        assert re.findall(r"{\w+}", msgid) == re.findall(r"{\w+}", text), msgid


def test_po_parsing_and_fallback() -> None:
    table = parse_po('msgid "a"\nmsgstr ""\n"b"\n"c"\n\nmsgid "x"\nmsgstr ""\n')
    assert table == {"a": "bc"}
    assert Translator("en")("Tap your card") == "Tap your card"
    assert Translator("zh")("Tap your card") == "请刷卡"
    assert Translator("zh")("{points} points", points=5) == "5 积分"
