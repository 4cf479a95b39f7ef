"""A sale asks before it books: the confirmation names the member and shows the items,
discounts, tenders, stored value now and after, and the points to earn. Cancel books
nothing and leaves the basket as it was; a card tapped while the confirmation is up
does not change whose sale it is; a lock leaves nothing pending. Against a real hub
and mosquitto."""

from __future__ import annotations

import time

import sqlalchemy as sa

from hub import db
from tapcard.domain.model import Payment
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till


def _purchases(till: Till) -> list[str]:
    with till.rig.seeded.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.transfers.c.member_id).where(db.transfers.c.kind == "purchase")
        ).scalars()
        return [str(r) for r in rows]


def _basket(till: Till, card_index: int = 1) -> None:
    p = till.presenter
    p.login("ann", PIN)
    till.wait("home", "login")
    till.tap(till.rig.seeded.cards[card_index])
    till.card_ready()
    p.sale()
    p.add_line("grocery", "12.50", 2)
    p.add_line("fuel", "30")
    wait_until(lambda: p.quote is not None, what="quote")


def test_cancel_books_nothing_and_keeps_the_basket(till: Till) -> None:
    p = till.presenter
    _basket(till)
    lines = list(p.lines)
    p.pay(Payment.STORED_VALUE)
    view = till.wait("confirm")
    assert view.title == "Confirm sale"
    assert view.member.endswith(till.rig.seeded.cards[1]) and "*" in view.member
    assert view.lines[0] == "Items: 3 · Retail ¥55.00"
    assert "New members: 10% off -¥5.50" in view.lines  # the campaign, by its name
    assert "To pay ¥49.50" in view.lines and "Stored value: ¥49.50" in view.lines  # tender
    assert "Stored value: ¥0.00 \u2192 -¥49.50" in view.lines  # now and after
    assert "Not enough stored value" in view.lines
    p.confirms.cancel()
    assert p.screen == "sale" and p.lines == lines and p.confirms.pending is None
    time.sleep(1)  # anything sent would have been booked by now
    assert _purchases(till) == []
    assert p.shift.counts.get("sale", 0) == 0


def test_the_sale_confirmed_is_the_member_shown_even_after_another_tap(till: Till) -> None:
    p, seeded = till.presenter, till.rig.seeded
    _basket(till, 1)
    p.pay(Payment.CASH)
    view = till.wait("confirm")
    assert "Cash: ¥49.50" in view.lines and view.lines[-1].startswith("Points to earn ")
    till.tap(seeded.cards[0])  # another member's card while the confirmation is up
    till.card_ready()
    assert p.screen == "confirm"
    p.confirms.confirm()
    till.wait("receipt")
    assert _purchases(till) == [str(seeded.members[1])]
    assert p.lines == []


def test_a_lock_leaves_no_sale_pending(till: Till) -> None:
    p = till.presenter
    _basket(till)
    p.pay(Payment.CASH)
    till.wait("confirm")
    p.lock()
    till.wait("login")
    assert p.confirms.pending is None
    p.confirms.confirm()  # a stale touch after the lock
    time.sleep(1)
    assert _purchases(till) == []
