"""A kiosk paired with a wash bay: the hub starts the bay when a member redeems a wash
at the kiosk. The bay is its real process (tests/device/gate_proc.py), the kiosk a real
device runtime, the hub's service in process, all on a real mosquitto.

Scenario: kiosk-2 is paired with bay-2 (label "2"). Li redeems a standard wash at the
kiosk: the hub consumes the voucher for bay-2 and sends the signed start to the bay and
to the kiosk; the bay closes its relay once and the kiosk holds the start to show.
The same start sent again is dropped by the bay's journal; a start for bay-3 on bay-2's
topic, and one signed by the kiosk's key, are refused. The kiosk never talks to the bay.
"""

from __future__ import annotations

import paho.mqtt.client as paho
import sqlalchemy as sa
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from hub import bays, db
from tapcard.device.port import settle
from tapcard.domain.model import Asset
from tapcard.wire.bay_messages import BayStart
from tapcard.wire.envelope import HUB_SIGNER, seal
from tapcard.wire.topics import Family, device_topic
from tests.conftest import credit
from tests.device.conftest import Rig, bundle_json, wait_until
from tests.device.test_gate_proc import ANSWER_S, Proc, provision

BAY_DOC = "bay_start"


def publish(rig: Rig, topic: str, payload: bytes) -> None:
    """What anyone on the broker could send: the bay must judge it by its signature."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(rig.broker.host, rig.broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(ANSWER_S)
    finally:
        client.loop_stop()
        client.disconnect()


def to_bay_2(rig: Rig, key: SigningKey, signer: str, start: BayStart) -> None:
    topic = device_topic("bay-2", Family.BAY)
    publish(rig, topic, seal(key, signer, topic, start))


def test_a_paired_kiosk_starts_its_bay_through_the_hub(rig: Rig) -> None:
    hub = rig.seeded.hub
    credit(hub, rig.seeded.members[0], Asset.POINTS, 10_000)
    rig.bundles["kiosk-2"] = bundle_json(rig.seeded, "kiosk-2", rig.broker, "kiosk")
    kiosk_key = rig.seeded.add_device("kiosk-9", "kiosk")  # a kiosk's key, for the forgery
    folder = provision(rig, "bay-2", "wash_bay")
    with hub.transaction() as conn:
        bays.pair(conn, "kiosk-2", "bay-2", "2", "test")
    bay = Proc(folder, hold_s=0.1)
    try:
        assert bay.line()["ready"] == "bay-2"
        bay.ask("WARM-UP")  # answered once the bay's session (and subscription) is up
        kiosk = rig.device("kiosk-2")
        receipt = kiosk.redeem(rig.seeded.cards[0], "WASH-STANDARD", 1)
        result = settle(kiosk, receipt, ANSWER_S).result
        assert result is not None and result.accepted and result.voucher
        started = bay.line()
        assert (started["start"], started["ok"], started["item"]) == (
            result.voucher, True, "WASH-STANDARD"
        )  # fmt: skip
        assert bay.closes() == 1
        wait_until(lambda: kiosk.load_doc(BAY_DOC) is not None, ANSWER_S, "the kiosk's notice")
        doc = kiosk.load_doc(BAY_DOC)
        assert isinstance(doc, dict) and (doc["voucher"], doc["label"]) == (result.voucher, "2")
        v, a = db.vouchers, db.audit
        with hub.engine.connect() as conn:
            used = conn.execute(sa.select(v.c.used_ms).where(v.c.code == result.voucher))
            assert used.scalar_one() is not None
            who = conn.execute(sa.select(a.c.actor).where(a.c.target == result.voucher))
            assert who.scalars().all() == ["device:bay-2"]
        start = BayStart(bay="bay-2", kiosk="kiosk-2", voucher=result.voucher,
                         item="WASH-STANDARD", label="2", issued_ms=0)  # fmt: skip
        to_bay_2(rig, hub.secrets.hub_key, HUB_SIGNER, start)
        again = bay.line()
        assert (again["start"], again["error"]) == (result.voucher, "already_started")
        other = BayStart(bay="bay-3", kiosk="kiosk-2", voucher="V-OTHER", item="WASH-STANDARD",
                         issued_ms=0)  # fmt: skip
        to_bay_2(rig, hub.secrets.hub_key, HUB_SIGNER, other)
        assert bay.line()["error"] == "start_not_this_bay"
        mine = BayStart(bay="bay-2", kiosk="kiosk-9", voucher="V-FORGED", item="WASH-STANDARD",
                        issued_ms=0)  # fmt: skip
        to_bay_2(rig, kiosk_key, "kiosk-9", mine)
        assert bay.line()["error"] == "start_refused"
        assert bay.closes() == 1
    finally:
        bay.stop()


def test_an_unpaired_kiosk_starts_no_bay(rig: Rig) -> None:
    hub = rig.seeded.hub
    credit(hub, rig.seeded.members[0], Asset.POINTS, 10_000)
    rig.bundles["kiosk-2"] = bundle_json(rig.seeded, "kiosk-2", rig.broker, "kiosk")
    rig.seeded.add_device("bay-2", "wash_bay")
    with hub.transaction() as conn:
        bays.pair(conn, "kiosk-2", "bay-2", "2", "test")
        assert bays.unpair(conn, "kiosk-2", "test") and bays.pairings(conn) == []
    kiosk = rig.device("kiosk-2")
    receipt = kiosk.redeem(rig.seeded.cards[0], "WASH-STANDARD", 1)
    result = settle(kiosk, receipt, ANSWER_S).result
    assert result is not None and result.accepted
    with hub.engine.connect() as conn:
        used = conn.execute(sa.select(db.vouchers.c.used_ms)).scalar_one()
    assert used is None and kiosk.load_doc(BAY_DOC) is None  # the member keeps the voucher
