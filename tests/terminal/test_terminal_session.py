"""The terminal's staff session, against a real hub and mosquitto.

Scenario: ann logs in with her PIN; the PIN crosses the broker only sealed, the hub keeps
one session for till-1 and ann, and the sale she rings up carries it. Once she locks the
terminal, the runtime no longer stamps her session on anything. When the hub has ended
the session, the next staff request sends the terminal back to its login screen. With
the hub unreachable ann logs in from the terminal's cache, and the sale she queues says
it was rung up under an offline login, with no session.
"""

from __future__ import annotations

import msgspec
import pytest

from hub import db, staff_sessions
from tapcard.domain.model import Payment
from tapcard.wire import messages as m
from tapcard.wire.envelope import open_envelope
from tapcard.wire.topics import Family, device_topic
from tests.device.conftest import wait_until
from tests.hub.test_ingest import Listener
from tests.terminal.conftest import PIN, Till


def _intent(payload: bytes) -> m.TxIntent:
    return msgspec.json.decode(open_envelope(payload).body, type=m.TxIntent)


def _log_in(till: Till, staff_id: str = "ann") -> None:
    till.presenter.login(staff_id, PIN)
    till.wait("home", "login")


def _sell(till: Till, amount: str = "50") -> None:
    till.presenter.sale()
    till.presenter.add_line("fuel", amount)
    till.presenter.pay(Payment.CASH)
    till.confirm()
    till.wait("receipt")


def test_the_session_rides_on_the_sale_and_ends_at_the_lock(till: Till) -> None:
    rig = till.rig
    topics = [device_topic("till-1", Family.TX), device_topic("till-1", Family.STAFF)]
    sniffer = Listener(rig.broker, topics)
    try:
        _log_in(till)
        staff = till.presenter.staff
        assert staff is not None and len(staff.session) == 32 and not staff.offline
        assert rig.count(db.staff_sessions, device_id="till-1", staff_id="ann") == 1
        till.tap(rig.seeded.cards[1])
        till.card_ready()
        _sell(till)
        sale = sniffer.wait_for(lambda msg: msg.topic.endswith("/tx"))
        till.presenter.lock()
        assert till.runtime.top_up(rig.seeded.cards[1], 1_000, staff="ann").accepted
        later = sniffer.wait_for(lambda msg: msg.topic.endswith("/tx") and msg is not sale)
        staff_payloads = [bytes(msg.payload) for msg in sniffer.messages if "staff" in msg.topic]
    finally:
        sniffer.close()
    intent = _intent(bytes(sale.payload))
    assert (intent.staff, intent.staff_session, intent.staff_offline) == (
        "ann",
        staff.session,
        False,
    )
    assert _intent(bytes(later.payload)).staff_session == ""  # locked: nobody's session
    assert staff_payloads and all(PIN.encode() not in p for p in staff_payloads)


def test_an_ended_session_sends_the_terminal_back_to_login(
    till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff_sessions, "SESSION_S", 1)
    _log_in(till)
    wait_until(lambda: till.rig.seeded.hub.clock.now_ms() > _session_end(till), what="end")
    till.presenter.search("138")
    view = till.wait("login", "sent back to login")
    assert view.message == "Please log in again"
    assert till.presenter.staff is None


def _session_end(till: Till) -> int:
    with till.rig.seeded.hub.engine.connect() as conn:
        return int(conn.execute(db.staff_sessions.select()).one().expires_ms)


def test_an_offline_login_marks_the_sales_it_rings_up(till: Till) -> None:
    rig = till.rig
    _log_in(till)  # online first: the cache learns ann's PIN, the device the card
    till.tap(rig.seeded.cards[1])
    till.card_ready()
    till.presenter.lock()
    rig.broker.stop()
    try:
        wait_until(lambda: not till.runtime.link.connected, what="link down")
        _log_in(till)
        staff = till.presenter.staff
        assert staff is not None and staff.offline and staff.session == ""
        till.tap(rig.seeded.cards[1])
        till.card_ready()
        _sell(till)
        [row] = till.runtime.store.pending(0, 10)
        intent = _intent(row.payload)
        assert (intent.staff, intent.staff_session, intent.staff_offline) == ("ann", "", True)
    finally:
        rig.broker.start()
    wait_until(lambda: till.runtime.status().outbox_depth == 0, what="drained")
