"""Every kind of counter receipt, printed to python-escpos's Dummy printer on a real hub
and mosquitto, read back as the bytes a thermal printer gets (GB18030 text, the native
QR command) and as the text kept for a reprint.

Scenario: a new member tops up ¥100.00, ¥40.00 in cash and the rest by WeChat Pay with
its number; buys groceries with the new-member campaign off; redeems two hours of
parking; renews the card in cash; has one grocery item refunded; and, with the link
down, buys again. Each receipt has the branch and the reference (SEQ/ID8) the refund
and the reversal take; the top-up lists both tenders with the number; the sale its items,
the campaign by name, the tender, the points earned and the balances after; the
redemption the item and the voucher as a QR; the renewal the new expiry; the refund
what came back, the money and how, the sale it refunds and its own reference; the
offline sale its items, the tender's amount, the total and the points as quoted, and
that it is queued. The last receipt is reprinted, marked as such.
"""

from __future__ import annotations

from escpos.printer import Dummy

from tapcard.domain.model import Asset, Payment
from tapcard.receipts.content import Printout, layout
from tapcard.receipts.printer import EscposPrinter, encode
from tests.conftest import credit
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till

GS_CUT = b"\x1dV"
BRANCH = "人民路店"
WX_REF = "4200001234202612029999"


def qr_store_command(data: bytes) -> bytes:
    size = len(data) + 3
    return b"\x1d(k" + bytes([size % 256, size // 256]) + b"1P0" + data


class Printed:
    """The Dummy printer's receipts one by one, with the text kept for a reprint."""

    def __init__(self, till: Till) -> None:
        self.till, self.dummy = till, Dummy()
        till.presenter.transactions.receipts.printer = EscposPrinter(self.dummy, 80, BRANCH)
        self.seen = self.kept = 0

    def paper(self) -> bytes:
        """The bytes of the next receipt on paper (a reprint keeps nothing new)."""
        wait_until(lambda: self.dummy.output.count(GS_CUT) > self.seen, what="printed")
        start = _nth_cut_end(self.dummy.output, self.seen)
        self.seen += 1
        out: bytes = self.dummy.output
        return out[start : _nth_cut_end(out, self.seen)]

    def next(self) -> tuple[bytes, Printout, str]:
        """The bytes of the receipt printed since the last call, the kept receipt, and
        its text as laid out for 80 mm paper."""
        out = self.paper()
        store = self.till.presenter.transactions.receipts.store
        wait_until(lambda: len(store.recent()) >= self.kept + 1, what="kept for a reprint")
        self.kept += 1
        kept = store.last()
        assert kept is not None
        return out, kept, "\n".join(layout(kept, 48))


def _nth_cut_end(out: bytes, n: int) -> int:
    end = 0
    for _ in range(n):
        end = out.index(GS_CUT, end) + len(GS_CUT) + 1
    return end


def _common(out: bytes, text: str, ref: str) -> None:
    assert encode(BRANCH) in out and f"Reference: {ref}" in text
    assert encode(f"Reference: {ref}") in out and "Staff: Ann Lee" in text


def _ref(view: object) -> str:
    lines = getattr(view, "lines", ())
    ref: str = next(x for x in lines if x.startswith("Reference: ")).split(": ", 1)[1]
    return ref


def _receipt(till: Till, before: object) -> object:
    p = till.presenter
    wait_until(lambda: p.view is not before and p.screen == "receipt", what="receipt")
    return p.view


def test_every_receipt_kind_prints_what_it_must(till: Till) -> None:
    p, rig = till.presenter, till.rig
    printed = Printed(till)
    credit(rig.seeded.hub, rig.seeded.members[0], Asset.POINTS, 2_000)
    p.login("ann", PIN)
    till.wait("home", "login")
    till.tap(rig.seeded.cards[0])
    till.card_ready()

    p.confirms.top_up("100")
    p.tender("topup", Payment.WECHAT, WX_REF, "40")
    before = p.view
    p.confirms.confirm()
    ref = _ref(_receipt(till, before))
    out, kept, text = printed.next()
    _common(out, text, ref)
    assert kept.kind == "topup" and ("Top-up", "¥100.00") in kept.items
    assert ("Cash", "¥40.00") in kept.totals and (f"WeChat Pay {WX_REF}", "¥60.00") in kept.totals
    assert encode(WX_REF) in out and b"\xa3\xa460.00" in out
    assert ("Stored value", "¥100.00") in kept.totals  # the balance after
    wait_until(lambda: rig.balances(0)["cents"] == 10_000, what="topped up at the hub")

    p.sale()
    p.add_line("grocery", "80", 2)
    before = p.view
    p.pay(Payment.CASH)
    till.confirm()
    sale_ref = _ref(_receipt(till, before))
    out, kept, text = printed.next()
    _common(out, text, sale_ref)
    assert ("Grocery \u00d7 2", "¥160.00") in kept.items
    assert any(label == "New members: 10% off" for label, _ in kept.totals)  # by name
    totals = dict(kept.totals)
    assert totals["Cash"] == totals["Paid"] and totals["Discounts"].startswith("-¥")
    assert any(label == "Points earned" and value != "0" for label, value in kept.totals)
    assert {label for label, _ in kept.totals} >= {"Points", "Stored value"}
    assert encode("New members: 10% off") in out

    before = p.view
    p.redeem("PARK-HOUR", 2)
    receipt = _receipt(till, before)
    out, kept, text = printed.next()
    _common(out, text, _ref(receipt))
    assert kept.items == (("Parking, per hour \u00d7 2", ""),) and kept.qr
    assert qr_store_command(kept.qr.encode()) in out  # the voucher as the printer's QR
    assert f"Voucher: {kept.qr}" in getattr(receipt, "lines", ())

    p.confirms.renew(Payment.CASH)
    before = p.view
    p.confirms.confirm()
    out, kept, text = printed.next()
    _common(out, text, _ref(_receipt(till, before)))
    renewed = dict(kept.totals)["Valid after renewal"]
    assert renewed and encode(renewed) in out and ("Renewal fee", "¥50.00") in kept.items

    p.start_refund()
    p.look_up(sale_ref)
    wait_until(lambda: p.screen == "refund" and bool(getattr(p.view, "rows", ())), what="looked up")
    p.pick(0, 1)
    p.review("damaged pack")
    before = p.view
    p.confirm_refund()
    refund_ref = _ref(_receipt(till, before))
    out, kept, text = printed.next()
    _common(out, text, refund_ref)
    assert kept.kind == "refund" and kept.title == "Refund"
    assert kept.items == (("Grocery \u00d7 1", "¥80.00"),)
    labels = [label for label, _ in kept.totals]
    assert "Money back" in labels and "Paid out in cash" in labels
    assert "Points taken back" in labels and "Refund of " in text
    assert encode("Money back") in out

    p.reprint()
    again = printed.paper()
    assert encode("Reprint") in again and encode(f"Reference: {refund_ref}") in again
    assert encode("Money back") in again
    wait_until(lambda: p.screen == "message", what="reprinted")
    assert getattr(p.view, "title", "") == "Reprinted"

    rig.broker.stop()
    try:
        wait_until(lambda: not till.runtime.link.connected, what="offline")
        p.sale()
        p.add_line("fuel", "50")
        before = p.view
        p.pay(Payment.CASH)
        till.confirm()
        receipt = _receipt(till, before)
        out, kept, text = printed.next()
        _common(out, text, _ref(receipt))
        assert ("Fuel \u00d7 1", "¥50.00") in kept.items
        totals = dict(kept.totals)
        assert totals["Cash"] == totals["To pay"] and totals["To pay"].startswith("¥")
        assert "Points to earn" in totals
        assert "Queued offline: sent when the hub is back" in kept.footer
    finally:
        rig.broker.start()
    wait_until(lambda: till.runtime.link.connected, what="online again")
