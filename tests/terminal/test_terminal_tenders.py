"""Tenders at the counter, against a real hub and mosquitto.

Scenario: ann rings up a sale for a member whose card holds stored value. Paying by
WeChat Pay without the transaction number is refused on the screen; so is a
stored-value part larger than the sale. ¥10.00 from stored value and the rest by WeChat
Pay with its number books one sale: the hub keeps both tenders with the number, the
member's stored value goes down by ¥10.00, the receipt lists both tenders, and the
shift counts the sale once with its takings by tender in words. A sale wholly by bank
card with its slip number books to the bank card's clearing account.

A top-up of ¥100.00 is confirmed in cash until Alipay is pressed on its confirmation:
without the number it says so and stays; with ¥40.00 typed as the cash part it shows
the member, ¥40.00 cash and ¥60.00 by Alipay with the number, and only Confirm books
it: the hub keeps both tenders, and only the cash is expected in the drawer. A renewal
fee of ¥50.00, ¥20.00 from stored value and the rest by WeChat Pay, is confirmed with
the expiry now and after and each tender, then booked with both tenders.
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


def _sales(till: Till, kind: str = "purchase") -> list[dict[str, object]]:
    with till.rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.transfers.c.detail).where(db.transfers.c.kind == kind)
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
    lines = till.confirm().lines
    assert "Stored value: ¥10.00" in lines and f"WeChat Pay {WX_REF}: " in "\n".join(lines)
    assert "Stored value: ¥50.00 \u2192 ¥40.00" in lines
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
    till.confirm()
    wait_until(lambda: p.view is not before and p.screen == "receipt", what="card sale")
    assert [d.get("tenders") for d in _sales(till)][-1] == [
        ["bank_card", p.shift.cents["sale_bank_card"], "POS-000123"]
    ]


ALI_REF = "2026120222001234567890"


def test_a_top_up_split_over_cash_and_alipay_is_confirmed_per_tender(till: Till) -> None:
    rig, p = till.rig, till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    card = rig.seeded.cards[1]
    till.tap(card)
    till.card_ready()
    view = p.confirms.top_up("100")
    assert view is not None and view.tenders == "topup" and card in view.member
    assert "Cash: ¥100.00" in view.lines  # cash until another tender is pressed

    p.tender("topup", Payment.ALIPAY, " ", "40")
    view = till.wait("confirm")
    assert view.note == "Type or scan the payment's reference" and view.lines[-1] == view.note
    p.tender("topup", Payment.ALIPAY, ALI_REF, "40")
    view = till.wait("confirm")
    assert view.note == "" and card in view.member
    assert "Top-up: ¥100.00" in view.lines
    assert "Cash: ¥40.00" in view.lines and f"Alipay {ALI_REF}: ¥60.00" in view.lines
    assert _sales(till, "topup") == []  # nothing before Confirm

    p.confirms.confirm()
    receipt = till.wait("receipt")
    assert any(line.startswith("Reference: ") for line in receipt.lines)
    wait_until(lambda: len(_sales(till, "topup")) == 1, what="top-up booked")
    (detail,) = _sales(till, "topup")
    assert detail["tenders"] == [["cash", 4_000, ""], ["alipay", 6_000, ALI_REF]]
    wait_until(lambda: rig.balances(1)["cents"] == 10_000, what="stored value")
    assert p.shift.cents["topup_cash"] == 4_000 and p.shift.cents["topup_alipay"] == 6_000
    assert p.shift.cash_in_cents() == 4_000  # only the cash is in the drawer
    summary = "\n".join(p.shift_summary().lines)
    assert "Top-ups · Alipay: ¥60.00" in summary and "Top-ups · Cash: ¥40.00" in summary


def test_a_renewal_split_over_stored_value_and_wechat(till: Till) -> None:
    rig, p = till.rig, till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    card = rig.seeded.cards[0]
    assert till.runtime.top_up(card, 3_000, staff="ann").accepted
    wait_until(lambda: rig.balances(0)["cents"] == 3_000, what="topped up")
    till.tap(card)
    till.card_ready()
    assert p.renewal() is not None
    p.tender("renewal", Payment.WECHAT, WX_REF, "20")
    view = till.wait("confirm")
    assert view.title == "Confirm renewal" and card in view.member
    assert any(line.startswith("Valid until: ") and "\u2192" in line for line in view.lines)
    assert "Renewal fee: ¥50.00" in view.lines
    assert "Stored value: ¥20.00" in view.lines and f"WeChat Pay {WX_REF}: ¥30.00" in view.lines
    assert "Stored value: ¥30.00 \u2192 ¥10.00" in view.lines
    p.confirms.confirm()
    receipt = till.wait("receipt")
    assert "Paid: ¥50.00" in receipt.lines
    wait_until(lambda: len(_sales(till, "renewal")) == 1, what="renewal booked")
    (detail,) = _sales(till, "renewal")
    assert detail["tenders"] == [["stored_value", 2_000, ""], ["wechat", 3_000, WX_REF]]
    wait_until(lambda: rig.balances(0)["cents"] == 1_000, what="fee part from stored value")
    assert p.shift.cents["fee_stored_value"] == 2_000 and p.shift.cents["fee_wechat"] == 3_000
