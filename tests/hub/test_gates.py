"""Gates and wash bays consume vouchers of their kind only, once, on SQLite and PostgreSQL.

Scenario: shop-1 has a counter (till-1), an exit gate (gate-1) and a wash bay (bay-1).
Li redeems parking and washes at the counter. The gate takes the parking voucher and
refuses the wash voucher (the hub checks the item's kind, whatever the gate says it
scanned); the bay the other way round. A retry by the same gate (its reply was lost)
gets the same answer marked repeat; the bay then asking for the gate's code, or the gate
after the retry window, gets "already used". A gate sends no intent the table allows,
and asks for nothing but vouchers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub import admin, gates
from hub.app import Hub
from hub.config import HubConfig
from hub.rulestore import parse_rules, store_rules
from hub.staff import handle
from tapcard.clock import ManualClock
from tapcard.domain.authority import capability_denial, voucher_denial
from tapcard.domain.model import Asset, DeviceKind, TxKind
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.clock import pinned_now_ms
from tests.conftest import credit
from tests.hub.support import Device


@dataclass
class Park:
    hub: Hub
    clock: ManualClock
    till: Device
    card: str


@pytest.fixture
def park(db_url: str, tmp_path: Path) -> Iterator[Park]:
    clock = ManualClock(pinned_now_ms())
    hub = Hub.init(HubConfig(tmp_path / "hub", db_url, None), clock=clock)
    key = new_signing_key()
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "test")
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-1", "Shop one", "chain", "test")
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "t")
        for device, kind in (("gate-1", "gate"), ("bay-1", "wash_bay")):
            other = verify_key_text(new_signing_key().verify_key)
            admin.add_device(conn, device, "shop-1", kind, other, "t")
        new = admin.NewMember(name="Li Wei", phone="13800000001", branch_id="shop-1")
        member = admin.add_member(conn, new, hub.rules.latest(), "", "test")
        card = admin.issue_card(conn, member, hub.rules.latest(), "test")
    credit(hub, member, Asset.POINTS, 10_000)
    yield Park(hub, clock, Device("till-1", key, rules_version=1), card)
    hub.close()


def redeem(park: Park, item: str, units: int = 1) -> str:
    [result] = park.hub.ledger.apply_batch(
        [park.till.incoming(park.card, m.Redeem(item=item, units=units))]
    )
    assert result.accepted, result.message
    return result.voucher


def ask(park: Park, device: str, code: str, kind: str = "gate") -> sm.StaffReply:
    request = sm.StaffRequest(device=device, staff=kind, op=sm.UseVoucher(code=code))
    return handle(park.hub, request, "shop-1")


def test_a_gate_takes_parking_and_a_bay_a_wash_each_once(park: Park) -> None:
    parking, wash = redeem(park, "PARK-HOUR", 3), redeem(park, "WASH-STANDARD")
    wrong_at_gate, wrong_at_bay = ask(park, "gate-1", wash), ask(park, "bay-1", parking)
    assert wrong_at_gate.error == "not_allowed" and "car_wash" in wrong_at_gate.message
    assert wrong_at_bay.error == "not_allowed" and "parking" in wrong_at_bay.message
    opened = ask(park, "gate-1", parking)
    assert (opened.error, opened.item, opened.units, opened.repeat) == ("", "PARK-HOUR", 3, False)
    started = ask(park, "bay-1", wash, "wash_bay")
    assert (started.error, started.item, started.units) == ("", "WASH-STANDARD", 1)
    assert started.used_ms == park.clock.now_ms()


def test_a_retry_after_a_lost_reply_gets_the_same_answer(park: Park) -> None:
    parking = redeem(park, "PARK-HOUR", 2)
    first = ask(park, "gate-1", parking)
    park.clock.advance(30_000)
    again = ask(park, "gate-1", parking)
    assert not first.repeat and again.repeat
    assert (again.error, again.units, again.used_ms) == ("", 2, first.used_ms)
    assert ask(park, "bay-1", parking).error == "not_allowed"  # a bay never takes parking
    wash = redeem(park, "WASH-STANDARD")
    assert ask(park, "bay-1", wash, "wash_bay").error == ""
    park.clock.advance(gates.RETRY_WINDOW_MS + 1)
    late = ask(park, "bay-1", wash, "wash_bay")
    assert late.error == "conflict" and "already used" in late.message  # not a second wash


def test_another_gate_and_a_terminal_posing_as_one_get_no_repeat(park: Park) -> None:
    with park.hub.transaction() as conn:
        key = verify_key_text(new_signing_key().verify_key)
        admin.add_device(conn, "gate-2", "shop-1", "gate", key, "t")
    parking = redeem(park, "PARK-HOUR")
    assert ask(park, "gate-1", parking).error == ""
    assert ask(park, "gate-2", parking).error == "conflict"
    assert ask(park, "till-1", redeem(park, "PARK-HOUR")).error == "no_session"
    bad = ask(park, "gate-1", "not a code")
    assert bad.error == "invalid"
    search = sm.StaffRequest(device="gate-1", staff="gate", op=sm.MemberSearch(text="Li"))
    assert handle(park.hub, search, "shop-1").error == "not_allowed"


def test_the_capability_table_gives_gates_and_bays_no_intents() -> None:
    rules = parse_rules(sample_rules_bytes())
    for kind in (DeviceKind.GATE, DeviceKind.WASH_BAY):
        for op in TxKind:
            denial = capability_denial(
                rules, device=kind, branch="shop-1", operation=op, tender=None, amount_cents=1
            )
            assert denial is not None, (kind, op)
    assert voucher_denial(DeviceKind.GATE, "parking") == ""
    assert voucher_denial(DeviceKind.GATE, "prize") != ""
    assert voucher_denial(DeviceKind.WASH_BAY, "car_wash") == ""
    assert voucher_denial(DeviceKind.KIOSK, "parking") != ""
