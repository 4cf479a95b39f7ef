"""The till's shift belongs to the device, against a real hub and mosquitto.

Scenario: ann opens the till's shift with a ¥200.00 float, sells for cash and tops a
card up; the terminal locks and bob logs in and sells again; the terminal restarts (a
new runtime and presenter on the same device store) and the shift carries on, with
every booking since the open in its tally and labels that are words, never takings
keys. Bob closes it with the cash counted ¥1.00 short: the screen shows expected,
counted and the difference, and the hub records the shift once, with the same
expected and difference; the till is then closed until a shift opens again, and a
booking with no shift open opens one without a float counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hub import db
from tapcard.domain.model import Payment
from tapcard.readers.sim import SimReader
from tapcard.ui.worker import CardWatcher, direct
from terminal.presenters.presenter import TerminalPresenter
from terminal.presenters.shift import SHIFT_UNSENT_DOC
from terminal.staff_link import StaffLink
from tests.device.conftest import Rig, wait_until
from tests.terminal.conftest import PIN, Till, close_till, make_till

FLOAT = "200"
RAW_KEYS = ("sale_cash", "fee_cash", "topup", "fee_stored_value", "refund_cash")


@pytest.fixture
def till(rig: Rig) -> Iterator[Till]:
    instance = make_till(rig)
    yield instance
    close_till(instance)


def _login(till: Till, staff: str) -> None:
    till.presenter.login(staff, PIN)
    till.wait("home", "login")


def _sell(till: Till, amount: str) -> None:
    p = till.presenter
    p.sale()
    p.add_line("fuel", amount)
    p.pay(Payment.CASH)
    _booked(till, "Sale", p.confirms.confirm)


def _booked(till: Till, title: str, book: Callable[[], None]) -> None:
    """Book, and wait for its receipt on screen (the booking's last step but printing)."""
    before = till.presenter.view
    book()
    p = till.presenter
    wait_until(lambda: p.view is not before and p.screen == "receipt", what=f"{title} booked")


def _restart(till: Till) -> Till:
    """The same device's terminal started again: a new runtime, link and presenter on
    the device store the old one left."""
    rig = till.rig
    close_till(till)
    rig.stop_device(till.runtime)
    reader = SimReader()
    runtime = rig.device("till-1", reader=reader)
    link = StaffLink(runtime.bundle)
    link.start()
    assert link.connected.wait(10)
    views: list[tuple[str, Any]] = []
    presenter = TerminalPresenter(runtime, link, direct, lambda s, v: views.append((s, v)), "en")
    watcher = CardWatcher(reader, runtime.identify, presenter.on_tap, presenter.on_removed, direct)
    return Till(rig, presenter, reader, runtime, link, views, watcher)


def _view(till: Till) -> Any:
    return till.presenter.view


def _summary_text(till: Till) -> str:
    return "\n".join(till.presenter.shift_summary().lines)


def test_a_shift_spans_logins_locks_and_a_restart_and_closes_at_the_hub(rig: Rig) -> None:
    tills = [make_till(rig)]
    try:
        _a_shift_across_a_restart(tills)
    finally:
        close_till(tills[-1])


def _a_shift_across_a_restart(tills: list[Till]) -> None:
    till = tills[0]
    rig, p = till.rig, till.presenter
    _login(till, "ann")
    p.open_shift(FLOAT)
    till.wait("shift", "shift opened")
    assert "Float: ¥200.00" in _view(till).lines
    till.tap(rig.seeded.cards[1])
    till.card_ready()
    _sell(till, "50")
    _booked(till, "Topup", lambda: p.top_up("100"))
    sold = p.shift.cents["sale_cash"]
    assert sold > 0 and p.shift.cents["topup"] == 10_000

    p.lock()  # what the 120 s auto-lock does
    _login(till, "bob")
    text = _summary_text(till)
    assert "Sale: 1" in text and "Top-up: 1" in text  # nothing from before the lock is lost
    till.tap(rig.seeded.cards[1])
    till.card_ready()
    _sell(till, "30")

    till = _restart(till)
    tills.append(till)
    p = till.presenter
    _login(till, "bob")
    text = _summary_text(till)
    assert "Sale: 2" in text and "Top-up: 1" in text and "Float: ¥200.00" in text
    assert not any(key in text for key in RAW_KEYS), text
    assert "Sales · Cash: " in text and "Top-ups · Cash: ¥100.00" in text
    cash_in = p.shift.cash_in_cents()
    expected = 20_000 + cash_in
    assert f"Cash expected: ¥{expected / 100:,.2f}" in text

    p.close_shift(f"{(expected - 100) / 100:.2f}")  # ¥1.00 short
    wait_until(lambda: "Reported to the hub" in _view(till).lines, what="reported")
    lines = _view(till).lines
    assert f"Cash counted: ¥{(expected - 100) / 100:,.2f}" in lines
    assert "Difference: -¥1.00" in lines, lines
    assert _view(till).title == "Shift closed"
    with rig.seeded.hub.engine.connect() as conn:
        (row,) = conn.execute(sa.select(db.till_shifts)).all()
    assert (row.device_id, row.branch_id, row.opened_by, row.closed_by) == (
        "till-1",
        "shop-1",
        "ann",
        "bob",
    )
    assert (row.float_cents, row.cash_in_cents, row.cash_out_cents) == (20_000, cash_in, 0)
    assert (row.expected_cents, row.difference_cents) == (expected, -100)
    assert till.runtime.load_doc(SHIFT_UNSENT_DOC) == []

    # Closed: the summary says so; the next booking opens a shift with no float counted.
    assert "No shift is open" in _summary_text(till)
    till.tap(rig.seeded.cards[1])
    till.card_ready()
    _sell(till, "10")
    text = _summary_text(till)
    assert "Sale: 1" in text and "Float: ¥0.00 (not counted)" in text


def test_wrong_counts_change_nothing(till: Till) -> None:
    p = till.presenter
    _login(till, "ann")
    for bad in ("", "abc", "-5"):
        p.open_shift(bad)
        assert till.wait("message").title == "Please check the entries"
    p.close_shift("100")
    assert till.wait("message").title.startswith("No shift is open")
    p.open_shift("0")
    till.wait("shift")
    p.open_shift("50")
    assert till.wait("message").title == "A shift is already open"
    assert p.shift.float_cents == 0
