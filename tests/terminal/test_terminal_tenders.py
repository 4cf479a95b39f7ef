"""Tenders at the counter, against a real hub and mosquitto.

Scenario: ann rings up a sale for a member whose card holds stored value. Paying by
WeChat Pay without the transaction number is refused on the screen; so is a
stored-value part larger than the sale. ¥10.00 from stored value and the rest by WeChat
Pay with its number books one sale: the hub keeps both tenders with the number, the
member's stored value goes down by ¥10.00, the receipt lists both tenders, and the
shift counts the sale once with its takings by tender in words. A sale wholly by bank
card with its slip number books to the bank card's clearing account.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa

from hub import db
from tapcard.domain.model import Payment
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till

WX_REF = "4200001234202612021234"


def _ring_up(till: Till, amount: str) -> None:
    p = till.presenter
    p.sale()
    p.add_line("fuel", amount)
    wait_until(lambda: p.quote is not None, what="quote")


def _sales(till: Till) -> list[dict[str, object]]:
    with till.rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.transfers.c.detail).where(db.transfers.c.kind == "purchase")
        ).scalars()
        return [msgspec.json.decode(r) for r in rows]


def test_a_sale_split_over_stored_value_and_wechat(till: Till) -> None:
    rig, p = till.rig, till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    card = rig.seeded.cards[1]
    assert till.runtime.top_up(card, 5_000, staff="ann").accepted
    wait_until(lambda: rig.balances(1)["cents"] == 5_000, what="topped up")
    till.tap(card)
    till.card_ready()
    _ring_up(till, "80")
    quote = p.quote
    assert quote is not None and quote.net_cents > 1_000

    p.pay_tender(Payment.WECHAT, "  ", "10")
    assert till.wait("message").detail == "Type or scan the payment's reference"
    p.sale()
    p.pay_tender(Payment.WECHAT, WX_REF, str(quote.net_cents / 100 + 1))
    assert till.wait("message").detail == "The tenders do not add up to the amount due"
    assert _sales(till) == []

    p.sale()
    before = p.view
    p.pay_tender(Payment.WECHAT, WX_REF, "10")
    wait_until(lambda: p.view is not before and p.screen == "receipt", what="split booked")
    (detail,) = _sales(till)
    assert detail["tenders"] == [
        ["stored_value", 1_000, ""],
        ["wechat", quote.net_cents - 1_000, WX_REF],
    ]
    wait_until(lambda: rig.balances(1)["cents"] == 4_000, what="stored value taken")
    assert p.shift.counts["sale"] == 1
    assert p.shift.cents["sale_stored_value"] == 1_000
    assert p.shift.cents["sale_wechat"] == quote.net_cents - 1_000
    summary = "\n".join(p.shift_summary().lines)
    assert "Sales · WeChat Pay: " in summary and "Sales · Stored value: ¥10.00" in summary
    assert p.shift.cash_in_cents() == 0  # nothing of it went into the drawer

    _ring_up(till, "20")
    before = p.view
    p.pay_tender(Payment.BANK_CARD, "POS-000123")
    wait_until(lambda: p.view is not before and p.screen == "receipt", what="card sale")
    assert [d.get("tenders") for d in _sales(till)][-1] == [
        ["bank_card", p.shift.cents["sale_bank_card"], "POS-000123"]
    ]
