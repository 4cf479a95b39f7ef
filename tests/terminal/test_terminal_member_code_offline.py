"""The member's QR code at a counter cut off from the hub (terminal/presenters/member_code.py).

Scenario, on a real terminal presenter against a real hub and mosquitto: Ann logs in and
Li's card is tapped once (the terminal caches its snapshot). The broker stops. The
scanner types Li's signed code: the terminal checks it itself and puts Li's card on the
counter from the cache, offline, and a cash sale is rung up for it. The same code again
is refused as used. Once the broker is back the hub books the sale for Li's card, offline,
with the code's nonce recorded against this terminal and no exception raised.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub import db, member_qr
from tapcard.domain.model import Payment
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till

USED = "This member code was used already: refresh it on the phone"


def scan(till: Till, text: str) -> None:
    """The scan field's text, handed on as the sale screen hands it (sale_screen.scanned)."""
    from terminal.presenters.member_code import scan_member_code

    presenter = till.presenter
    assert scan_member_code(presenter.desk, text, presenter.on_tap)


def test_offline_the_counter_takes_a_signed_code_once(till: Till) -> None:
    p, rig = till.presenter, till.rig
    hub, card_id = rig.seeded.hub, rig.seeded.cards[0]
    p.login("ann", PIN)
    till.wait("home", "login")
    till.tap(card_id)
    till.card_ready()
    till.swap()
    wait_until(lambda: p.card is None, what="the card taken off")
    code = member_qr.make(hub.secrets, card_id, hub.clock.now_ms()).text
    rig.broker.stop()
    try:
        wait_until(lambda: not till.runtime.link.connected, what="offline")
        scan(till, code)
        till.card_ready()
        assert p.card is not None and p.card.tap.card_id == card_id and not p.card.online
        p.sale()
        p.add_line("fuel", "50")
        p.pay(Payment.CASH)
        till.confirm()
        wait_until(lambda: p.screen != "confirm", what="the sale queued")
        p.desk.card = None
        scan(till, code)  # the same screenshot again
        assert till.wait("message", "the refusal of a used code").title == USED
    finally:
        rig.broker.start()
    wait_until(lambda: till.runtime.link.connected, what="online again")
    wait_until(lambda: rig.count(db.transfers, kind="purchase") == 1, what="the sale booked")
    with hub.engine.connect() as conn:
        sale = conn.execute(sa.select(db.transfers).where(db.transfers.c.kind == "purchase")).one()
        nonce = conn.execute(sa.select(db.member_qr_nonces)).one()
        kinds = conn.execute(sa.select(db.exceptions.c.kind)).scalars().all()
    assert (sale.card_id, sale.offline, sale.device_id) == (card_id, True, "till-1")
    assert (nonce.card_id, nonce.device_id) == (card_id, "till-1")
    assert not [k for k in kinds if k.startswith("member_code")]
