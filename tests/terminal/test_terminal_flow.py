"""A counter terminal against a real hub and mosquitto, driven through its presenter.

Scenario: a manager logs in with her PIN (checked by the hub, audited). A silver member
taps; a sale of grocery lines gets the tier discount and the spend-200-get-20 campaign,
the screen shows the points to earn and the remainder, the hub books exactly that. A new
member is registered on a blank card: the hub signs the credential for the chip's UID,
the terminal writes it, and the card then taps as that member. That card is reported
lost and replaced on another blank card; the balance carries over and the old card is
refused. With the broker gone, a sale is queued (visible queue count) and drains when
it is back. A cashier may not replace cards.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import admin, db
from tapcard.domain.model import Asset, Payment
from tests.conftest import credit
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till


def _make_silver(till: Till, member_index: int) -> None:
    hub = till.rig.seeded.hub
    member_id = till.rig.seeded.members[member_index]
    credit(hub, member_id, Asset.GROWTH, 12_000)
    with hub.transaction() as conn:
        conn.execute(db.members.update().where(db.members.c.id == member_id).values(tier="silver"))


def _login(till: Till, staff: str = "ann") -> None:
    till.presenter.login(staff, PIN)
    till.wait("home", "login")


def test_login_sale_with_tier_discount_and_campaign(till: Till) -> None:
    till.presenter.login("ann", "0000")
    wait_until(lambda: till.presenter.view.message == "Wrong PIN", what="refused PIN")
    _login(till)
    _make_silver(till, 0)
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    till.presenter.sale()
    till.presenter.add_line("grocery", "150.50")
    till.presenter.add_line("grocery", "80")
    till.presenter.add_line("group_buy", "30")
    view = till.presenter.view
    text = "\n".join(view.totals)
    assert "Tier discount -¥6.91" in text  # silver: 3 % of each eligible line, floored
    assert "New members: 10% off -¥22.35" in text  # the best non-stackable campaign, named
    assert "Excluded from points ¥30.00" in text
    assert "Remainder earning nothing ¥0.24" in text
    quote = till.presenter.quote
    assert quote is not None and quote.net_cents == 23_124
    till.presenter.pay(Payment.CASH)
    confirm = till.confirm()
    assert confirm.title == "Confirm sale" and confirm.member.endswith(till.rig.seeded.cards[0])
    assert confirm.lines[0] == "Items: 3 · Retail ¥260.50"
    assert "Tier discount -¥6.91" in confirm.lines and "To pay ¥231.24" in confirm.lines
    assert "Cash: ¥231.24" in confirm.lines and f"Points to earn {quote.points}" in confirm.lines
    receipt = till.wait("receipt")
    assert f"Points earned: {quote.points}" in receipt.lines
    with till.rig.seeded.hub.engine.connect() as conn:
        row = conn.execute(sa.select(db.transfers).where(db.transfers.c.kind == "purchase")).one()
        audit = conn.execute(sa.select(db.audit).where(db.audit.c.action == "staff.login")).all()
    assert row.device_id == "till-1"
    assert len(audit) == 1
    assert till.rig.balances(0)["points"] == quote.points


def _retap(till: Till) -> None:
    """Take the card off and put it back: the watcher reads what was written."""
    from tapcard.readers.sim import SimCard

    applet = till.reader._applet
    assert applet is not None and applet.card_key is not None
    card = SimCard(applet.uid, applet.credential, bytes(applet.card_key))
    till.swap()
    till.reader.tap(card)
    till.card_ready()


def test_register_issue_lost_and_replace(till: Till) -> None:
    _login(till)
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x01")
    till.card_ready()
    till.presenter.register("Zhang San", "13900000009")
    done = till.wait("message")
    assert "is ready" in done.title, done
    new_card = done.title.split()[1]
    _retap(till)
    assert till.presenter.card is not None
    assert till.presenter.card.tap.card_id == new_card
    till.presenter.top_up("100")
    till.wait("receipt")

    till.presenter.search("Zhang San")  # a full name: the hub matches it whole
    found = till.wait("members")
    assert any(new_card in row for row in found.rows)
    till.presenter.report_lost(new_card)
    lost = till.wait("message")
    assert lost.title == "Card reported lost"
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x02")
    till.card_ready()
    till.presenter.home()
    till.presenter.replace(new_card)
    done = till.wait("message")
    assert "is ready" in done.title, done
    replacement = done.title.split()[1]
    _retap(till)
    assert till.presenter.card.tap.card_id == replacement
    hub = till.rig.seeded.hub
    with hub.engine.connect() as conn:
        cards = {r.id: r.state for r in conn.execute(sa.select(db.cards))}
        snap = admin.card_snapshot(conn, replacement, hub.rules.latest())
        actors = set(conn.execute(sa.select(db.audit.c.actor)).scalars())
    assert cards[new_card] == "replaced" and cards[replacement] == "active"
    assert snap.balances.stored_value_cents == 10_000  # carried over; the fee paid in cash
    assert "staff:ann@till-1" in actors


def test_cashier_may_not_replace_a_card(till: Till) -> None:
    _login(till, "bob")
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x03")
    till.card_ready()
    till.presenter.replace(till.rig.seeded.cards[1])
    refused = till.wait("message")
    assert refused.title == "A manager must do this"
