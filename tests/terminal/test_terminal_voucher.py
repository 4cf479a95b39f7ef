"""A voucher is accepted once, at a counter, against a real hub and mosquitto.

Scenario: a member with points redeems two hours of parking at the counter; the receipt
shows the voucher code. The code, typed in lower case without dashes (as a scanner or a
hurried cashier might), is accepted: the hub marks it used and audits it under the
staff member, and the receipt names the item and the hours. The same code again is
refused as already used, a well-formed code the hub never issued as unknown, and
garbage as not a voucher code, each with nothing changed at the hub. The shift summary
counts the one accepted. Offline the counter says the hub is needed, and the voucher
stays unused. Two workers accepting one code at the same moment get one yes.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from hub import admin, db
from tapcard.domain.engine import parse_voucher_code
from tapcard.domain.model import Asset
from tapcard.errors import ConflictError
from tests.conftest import credit
from tests.device.conftest import wait_until
from tests.terminal.conftest import PIN, Till


def _redeem_parking(till: Till, hours: int) -> str:
    credit(till.rig.seeded.hub, till.rig.seeded.members[0], Asset.POINTS, 2_000)
    till.presenter.login("ann", PIN)
    till.wait("home", "login")
    till.tap(till.rig.seeded.cards[0])
    till.card_ready()
    till.presenter.redeem("PARK-HOUR", hours)
    receipt = till.wait("receipt", "redemption receipt")
    [line] = [row for row in receipt.lines if row.startswith("Voucher: ")]
    return line.removeprefix("Voucher: ")


def _used_ms(till: Till, code: str) -> int | None:
    with till.rig.seeded.hub.engine.connect() as conn:
        used = conn.execute(
            sa.select(db.vouchers.c.used_ms).where(db.vouchers.c.code == code)
        ).scalar_one()
    return None if used is None else int(used)


def _message(till: Till) -> tuple[str, str]:
    view = till.wait("message", "a refusal")
    return view.title, view.detail


def test_a_voucher_is_accepted_once(till: Till) -> None:
    code = _redeem_parking(till, 2)
    assert parse_voucher_code(code) == code and _used_ms(till, code) is None

    till.presenter.home()
    till.presenter.use_voucher(code.replace("-", "").lower())
    receipt = till.wait("receipt", "voucher receipt")
    assert receipt.title == "Voucher accepted"
    assert f"Voucher: {code}" in receipt.lines and "Quantity: 2" in receipt.lines
    used_ms = _used_ms(till, code)
    assert used_ms is not None
    with till.rig.seeded.hub.engine.connect() as conn:
        audit = conn.execute(
            sa.select(db.audit.c.actor).where(db.audit.c.action == "voucher.use")
        ).all()
    assert [row.actor for row in audit] == ["staff:ann@till-1"]

    till.presenter.home()
    till.presenter.use_voucher(code)
    title, detail = _message(till)
    assert title == "Voucher already used" and code in detail
    assert _used_ms(till, code) == used_ms  # the first use stands

    till.presenter.home()
    unknown = "0000-0000-0000"
    till.presenter.use_voucher(unknown)
    assert _message(till)[0] == "Unknown voucher"
    till.presenter.home()
    till.presenter.use_voucher("not a code")
    assert _message(till) == ("Not a voucher code", "not a code")

    summary = till.presenter.shift_summary()
    assert "Vouchers accepted: 1" in summary.lines


def test_offline_the_counter_cannot_accept_a_voucher(till: Till) -> None:
    code = _redeem_parking(till, 1)
    till.rig.broker.stop()
    try:
        wait_until(lambda: not till.link.connected.is_set(), what="staff link down")
        till.presenter.home()
        till.presenter.use_voucher(code)
        title, _detail = _message(till)
        assert title == "The hub is not reachable: try again when online"
    finally:
        till.rig.broker.start()
    assert _used_ms(till, code) is None


def test_two_places_accepting_one_voucher_get_one_yes(till: Till) -> None:
    code = _redeem_parking(till, 1)
    hub = till.rig.seeded.hub
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def accept(place: str) -> None:
        start.wait()
        try:
            with hub.transaction() as conn:
                admin.use_voucher(conn, code, place)
            outcomes.append("yes")
        except ConflictError:
            outcomes.append("already used")

    threads = [threading.Thread(target=accept, args=(p,)) for p in ("exit-1", "exit-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["already used", "yes"]


def test_codes_are_read_as_printed() -> None:
    assert parse_voucher_code(" abcd efgh jkmn ") == "ABCD-EFGH-JKMN"
    assert parse_voucher_code("1O1L-IIII-0000") == "1011-1111-0000"  # O is 0; I and L are 1
    for bad in ("", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKMU"):
        assert parse_voucher_code(bad) is None, bad
