"""`tapcard device gate`: run a provisioned gate or wash bay (tapcard/device/gate.py).

Codes come from standard input, one a line (the scanner types them as keys). The
relay and fault pins are BCM numbers; gpiozero picks the Pi's pin factory, or the one
GPIOZERO_PIN_FACTORY names (`mock` in tests). Health goes to the hub every
`HEALTH_S` with the bay's alarms; each answer is printed as one JSON line.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path
from typing import Final, TextIO

from tapcard.clock import Clock, clock_from_env
from tapcard.device.bundle import BUNDLE_FILE, Bundle
from tapcard.device.gate import (
    ALARM_BAY_FAULT,
    ALARM_BAY_INTERRUPTED,
    ASK_TIMEOUT_S,
    JOURNAL_FILE,
    Answer,
    Bay,
    BayJournal,
    Gate,
    clean_code,
    staff_name,
)
from tapcard.device.link import RECONNECT_DELAY_S_MAX, SESSION_EXPIRY_S, device_client
from tapcard.domain.model import DeviceKind
from tapcard.mqtt import MqttClient, Session
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.envelope import WireError
from tapcard.wire.topics import Family, device_topic

HEALTH_S: Final = 30.0
ALARM_TEXT: Final = {
    ALARM_BAY_FAULT: "wash bay fault (relay or sensor)",
    ALARM_BAY_INTERRUPTED: "a wash start was cut off by a power cut: check the bay",
}
SOFTWARE_VERSION: Final = "gate-1"


class VoucherLink:
    """The staff channel of a device with no staff: UseVoucher, and its Health."""

    def __init__(self, bundle: Bundle, clock: Clock) -> None:
        self.bundle, self.clock = bundle, clock
        self.kind = DeviceKind(bundle.kind)
        reply_topic = device_topic(bundle.device_id, Family.STAFF_REPLY)
        session = Session(
            client_id=f"tapcard-dev-{bundle.device_id}",
            host=bundle.broker_host,
            port=bundle.broker_port,
            session_expiry_s=SESSION_EXPIRY_S,
            subscriptions=((reply_topic, 1),),
            queued=frozenset(),
            reconnect_delay_s_max=RECONNECT_DELAY_S_MAX,
            requests_pending_max=4,
        )
        self.client: MqttClient[None] = device_client(bundle, session)

    def ask(self, code: str) -> Answer:
        body = sm.StaffRequest(
            device=self.bundle.device_id,
            staff=staff_name(self.kind),
            op=sm.UseVoucher(code=code),
        )
        try:
            reply = self.client.request(Family.STAFF, body, sm.StaffReply, ASK_TIMEOUT_S)
        except WireError:
            reply = None
        if reply is None or reply.device != self.bundle.device_id:
            return Answer(False, "offline")
        if reply.error:
            return Answer(False, reply.error)
        return Answer(True, item=reply.item, units=reply.units)

    def health(self, alarms: list[str]) -> None:
        # A bay's fault rides on the reader fields too: the dashboard raises a device
        # alert for a faulty reader (hub/web/alerts.py), and the bay's controller is its
        # part that reads and acts.
        body = m.Health(
            device=self.bundle.device_id,
            at_ms=self.clock.now_ms(),
            software_version=SOFTWARE_VERSION,
            reader="fault" if alarms else "ok",
            reader_detail=", ".join(ALARM_TEXT.get(a, a) for a in alarms),
            alarms=alarms,
        )
        self.client.publish(device_topic(self.bundle.device_id, Family.HEALTH), body, 1, False)


def run_gate(data_dir: Path, relay_pin: int, fault_pin: int | None, lines: TextIO) -> int:
    from gpiozero import DigitalInputDevice, OutputDevice

    bundle = Bundle.load(data_dir / BUNDLE_FILE)
    link = VoucherLink(bundle, clock_from_env())
    relay = OutputDevice(relay_pin, initial_value=False)
    program: Gate | Bay
    if link.kind is DeviceKind.WASH_BAY:
        fault = DigitalInputDevice(fault_pin) if fault_pin is not None else None
        program = Bay(link.ask, relay, BayJournal(data_dir / JOURNAL_FILE), fault)
    elif link.kind is DeviceKind.GATE:
        program = Gate(link.ask, relay)
    else:
        print(f"error: {bundle.device_id} is a {bundle.kind}, not a gate or bay", file=sys.stderr)
        return 2
    link.client.start()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEALTH_S):
            link.health(program.alarms())

    threading.Thread(target=beat, daemon=True).start()
    print(json.dumps({"ready": bundle.device_id, "alarms": program.alarms()}), flush=True)
    try:
        for line in lines:
            code = clean_code(line)
            if code == "!health":  # the tests' and the operator's: report now
                link.health(program.alarms())
                continue
            if code:
                answer = program.handle(code)
                print(json.dumps({"code": code, **dataclasses.asdict(answer)}), flush=True)
    finally:
        stop.set()
        link.client.stop()
        relay.close()
    return 0
