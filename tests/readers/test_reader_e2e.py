"""A tap on a real reader stack, through the device runtime to the hub's ledger and back.

Scenario: a kiosk's reader is a real PC/SC stack (a private pcscd with the vpcd driver,
pyscard), or a real nfcpy stack (its UDP driver); only the card or NTAG is emulated,
at the level of the bytes it answers. The device runtime gets the reader through
`open_reader` from configuration. A member taps: the runtime reads and verifies the
card (issuer signature, and the smart card's answer to a challenge or the tag's NXP
originality signature), asks the hub over mosquitto for the card's snapshot, rings up a
purchase and a top-up, and the hub books them. The broker then goes down; the member
taps again and spends stored value offline, decided from the cached snapshot. When the
broker is back the outbox drains. The ledger holds three transfers with the member's
balances, verifies clean, and the device's cached snapshot shows the hub's balances.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from ntag_process import NtagProcess  # tests/readers is on sys.path (no __init__.py)

from hub.broker import PrivateBroker
from hub.verify import verify_ledger
from tapcard.cards.credential import issue_credential
from tapcard.cards.originality import Originality, public_key_for_tests, sign_for_tests
from tapcard.device.runtime import DeviceRuntime
from tapcard.domain.engine import SaleLine
from tapcard.readers import Backend, CardReader, ReaderConfig, open_reader
from tapcard.readers.sim import make_sim_card
from tapcard.wire import messages as m
from tests.clock import pinned_today
from tests.device import conftest as device_fixtures
from tests.device.conftest import Rig, transfers_of, wait_until

MASTER = b"\x21" * 32
PCSC_UID = bytes.fromhex("04a1b2c3d4e5f6")
NFC_UID = bytes.fromhex("04112233445566")
NXP_TEST_KEY = 0x1F2E3D4C5B6A7988  # stands in for NXP's private key
DEVICE_ID = "kiosk-2"
# pcscd polls vpcd for a card about every 400 ms; nfcpy's UDP sense round is up to 1 s.
READ_TIMEOUT_MS = 3000
RESULT_TIMEOUT_S = 10.0
PURCHASE_CENTS = 19_999
PURCHASE_NET_CENTS = 18_000  # the welcome 10 % of the sample rules applies on day one
TOP_UP_CENTS = 5_000
SPEND_CENTS = 1_200

Insert = Any  # tests/readers/conftest.py: insert_card
# The device rig (private mosquitto, hub service, provisioned kiosks) of tests/device.
rig = device_fixtures.rig
fast_link = device_fixtures.fast_link  # autouse: the link's waits patched down


@pytest.fixture
def pcsc_reader(pcscd: Any, insert_card: Insert, rig: Rig) -> Iterator[CardReader]:
    """The member's smart card in the vpcd slot, and the kiosk's reader from its config."""
    issuer = rig.seeded.hub.secrets.issuer_key
    card = make_sim_card(issuer, MASTER, rig.seeded.cards[0], PCSC_UID, pinned_today())
    insert_card(card.uid, card.credential, card.card_seed)
    reader = open_reader(ReaderConfig(backend=Backend.PCSC, reader=pcscd.reader_name))
    yield reader
    reader.close()


@pytest.fixture
def nfc_reader(rig: Rig) -> Iterator[CardReader]:
    """The member's NTAG213, issued at HQ, in the field of the kiosk's nfcpy reader.

    The tag runs in its own process: in this one, busy with the hub and the link, it
    could answer after nfcpy's 5 ms READ timeout (see ntag_process.py)."""
    issuer = rig.seeded.hub.secrets.issuer_key
    credential = issue_credential(issuer, rig.seeded.cards[0], NFC_UID, pinned_today())
    tag = NtagProcess()
    try:
        tag.load(NFC_UID, sign_for_tests(NFC_UID, NXP_TEST_KEY, 0x5EED))
        config = ReaderConfig(
            backend=Backend.NFC,
            reader=f"udp:127.0.0.1:{tag.port}",
            originality_keys=(public_key_for_tests(NXP_TEST_KEY),),
        )
        issuing = open_reader(config)
        blank = issuing.wait_for_card(READ_TIMEOUT_MS)
        assert blank is not None and blank.is_blank
        assert blank.originality is Originality.GENUINE  # the NXP signature checks out
        issuing.write_credential(credential, READ_TIMEOUT_MS)
        issuing.close()
        assert credential in tag.dump()
        reader = open_reader(config)
        yield reader
        reader.close()
    finally:
        tag.stop()


def _online_tap(device: DeviceRuntime, card_id: str) -> m.Balances:
    assert device.read_card(READ_TIMEOUT_MS) == card_id
    snapshot, online = device.snapshot(card_id)
    assert online and snapshot is not None and snapshot.found
    assert snapshot.balances == m.Balances(points=0, growth=0, stored_value_cents=0)
    quote = device.quote_sale(snapshot, [SaleLine("grocery", PURCHASE_CENTS)])
    assert quote.net_cents == PURCHASE_NET_CENTS

    sale = device.purchase(card_id, [SaleLine("grocery", PURCHASE_CENTS)], seen=(snapshot, online))
    topup = device.top_up(card_id, TOP_UP_CENTS, seen=(snapshot, online))
    assert sale.accepted and not sale.offline and sale.tx_id is not None
    assert topup.accepted and not topup.offline and topup.tx_id is not None
    booked = device.wait_result(sale.tx_id, RESULT_TIMEOUT_S)
    assert booked is not None and booked.accepted and booked.net_cents == quote.net_cents
    last = device.wait_result(topup.tx_id, RESULT_TIMEOUT_S)
    assert last is not None and last.accepted and last.balances is not None
    points = PURCHASE_NET_CENTS // 100
    assert last.balances == m.Balances(
        points=points, growth=points, stored_value_cents=TOP_UP_CENTS
    )
    return last.balances


def _offline_tap(
    broker: PrivateBroker, device: DeviceRuntime, card_id: str, before: m.Balances
) -> m.Balances:
    broker.stop()
    wait_until(lambda: not device.link.connected, what="device sees the broker gone")
    assert device.read_card(READ_TIMEOUT_MS) == card_id
    snapshot, online = device.snapshot(card_id)
    assert not online and snapshot is not None
    assert snapshot.balances == before  # the cache took the hub's last result
    spend = device.spend(card_id, SPEND_CENTS, seen=(snapshot, online))
    assert spend.accepted and spend.offline and spend.tx_id is not None
    assert device.store.depth() == 1
    broker.start()
    result = device.wait_result(spend.tx_id, RESULT_TIMEOUT_S)
    assert result is not None and result.accepted and result.balances is not None
    expected = msgspec.structs.replace(
        before, stored_value_cents=before.stored_value_cents - SPEND_CENTS
    )
    assert result.balances == expected
    return result.balances


def _tap_online_then_offline(rig: Rig, reader: CardReader) -> None:
    card_id = rig.seeded.cards[0]
    device = rig.device(DEVICE_ID, reader=reader)
    balances = _online_tap(device, card_id)
    balances = _offline_tap(rig.broker, device, card_id, balances)

    wait_until(lambda: device.store.depth() == 0, what="outbox drained")
    assert transfers_of(rig, DEVICE_ID) == 3
    assert rig.balances(0) == {
        "cents": balances.stored_value_cents,
        "points": balances.points,
        "growth": balances.growth,
    }
    with rig.seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []
    cached = device.store.snapshot(card_id)
    assert cached is not None and cached.balances == balances
    rig.stop_device(device)


def test_smart_card_on_pcscd_to_the_ledger(rig: Rig, pcsc_reader: CardReader) -> None:
    assert pcsc_reader.backend is Backend.PCSC
    _tap_online_then_offline(rig, pcsc_reader)


def test_ntag_on_nfcpy_to_the_ledger(rig: Rig, nfc_reader: CardReader) -> None:
    assert nfc_reader.backend is Backend.NFC
    _tap_online_then_offline(rig, nfc_reader)
