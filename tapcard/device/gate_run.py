"""`tapcard device gate`: run a provisioned gate or wash bay (tapcard/device/gate.py).

Codes come from standard input, one a line (the scanner types them as keys); a member's
card comes from the bundle's reader (the simulated one listens on DATA/sim.sock, as a
kiosk's does), verified here before the hub is asked. The
relay and fault pins are BCM numbers; gpiozero picks the Pi's pin factory, or the one
GPIOZERO_PIN_FACTORY names (`mock` in tests). Health goes to the hub every
`HEALTH_S` with the bay's alarms; each answer is printed as one JSON line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Final, TextIO

from tapcard.cards.credential import CredentialError
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
    CardShown,
    Gate,
    Relay,
    Shown,
    clean_code,
    shown_of,
    staff_name,
)
from tapcard.device.launch import reader_config
from tapcard.device.link import RECONNECT_DELAY_S_MAX, SESSION_EXPIRY_S, device_client
from tapcard.domain.model import DeviceKind
from tapcard.mqtt import EventKind, MqttClient, Session
from tapcard.readers import CardReader, ReaderError, authenticate_tap, open_reader
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.bay_messages import BayStart
from tapcard.wire.envelope import WireError, signed_by_hub, unseal
from tapcard.wire.topics import Family, device_topic

log = logging.getLogger(__name__)

HEALTH_S: Final = 30.0
CARD_WAIT_MS: Final = 1000  # each reader wait: how soon a stop is noticed
CARD_REFUSED: Final = "card_refused"  # forged, copied or cloned: refused here
STOP_CHECK_S: Final = 1.0
START_REFUSED: Final = "start_refused"  # not signed by the hub for this topic
START_NOT_THIS_BAY: Final = "start_not_this_bay"
ALARM_TEXT: Final = {
    ALARM_BAY_FAULT: "wash bay fault (relay or sensor)",
    ALARM_BAY_INTERRUPTED: "a wash start was cut off by a power cut: check the bay",
}
SOFTWARE_VERSION: Final = "gate-1"


class VoucherLink:
    """The staff channel of a device with no staff (UseVoucher, GateCard), its Health,
    and for a bay the hub's starts."""

    def __init__(self, bundle: Bundle, clock: Clock) -> None:
        self.bundle, self.clock = bundle, clock
        self.kind = DeviceKind(bundle.kind)
        reply_topic = device_topic(bundle.device_id, Family.STAFF_REPLY)
        # A bay also takes the starts the hub issues for it (a paired kiosk's wash); its
        # persistent session keeps those sent while it was away.
        self.bay_topic = device_topic(bundle.device_id, Family.BAY)
        bay = self.kind is DeviceKind.WASH_BAY
        session = Session(
            client_id=f"tapcard-dev-{bundle.device_id}",
            host=bundle.broker_host,
            port=bundle.broker_port,
            session_expiry_s=SESSION_EXPIRY_S,
            subscriptions=((reply_topic, 1), *(((self.bay_topic, 1),) if bay else ())),
            queued=frozenset({EventKind.MESSAGE} if bay else ()),
            reconnect_delay_s_max=RECONNECT_DELAY_S_MAX,
            requests_pending_max=4,
        )
        self.client: MqttClient[None] = device_client(bundle, session)
        self.hub_key_for = signed_by_hub(bundle.hub_key)

    def ask(self, shown: Shown) -> Answer:
        op: sm.UseVoucher | sm.GateCard
        if isinstance(shown, str):
            op = sm.UseVoucher(code=shown)
        else:
            op = sm.GateCard(card_id=shown.card_id, uid=shown.uid, qr=shown.qr)
        body = sm.StaffRequest(device=self.bundle.device_id, staff=staff_name(self.kind), op=op)
        try:
            reply = self.client.request(Family.STAFF, body, sm.StaffReply, ASK_TIMEOUT_S)
        except WireError:
            reply = None
        if reply is None or reply.device != self.bundle.device_id:
            return Answer(False, "offline")
        if reply.error:
            return Answer(False, reply.error)
        return Answer(True, "", reply.item, reply.units, reply.voucher, reply.repeat)

    def next_start(self, timeout_s: float) -> BayStart | str | None:
        """The next start the hub sent this bay; the refusal's word for one that is not
        the hub's or not for this bay; None when none came."""
        for event in self.client.take(timeout_s, 1):
            if event.kind is not EventKind.MESSAGE or event.topic != self.bay_topic:
                continue
            try:
                _, start = unseal(event.payload, event.topic, self.hub_key_for, BayStart)
            except WireError as exc:
                log.warning("refused a bay start: %s", exc)
                return START_REFUSED
            if start.bay != self.bundle.device_id:
                log.warning("refused a start for %s sent to %s", start.bay, self.bay_topic)
                return START_NOT_THIS_BAY
            return start
        return None

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


class Console:
    """One answer at a time: the scanner's lines and the reader's cards share the relay
    and standard output."""

    def __init__(self, program: Gate | Bay) -> None:
        self.program = program
        self.lock = threading.Lock()

    def emit(self, line: dict[str, object]) -> None:
        print(json.dumps(line), flush=True)

    def shown(self, what: Shown, label: str) -> None:
        with self.lock:
            answer = self.program.handle(what)
            self.emit({"code": label, **dataclasses.asdict(answer)})

    def started(self, start: BayStart | str) -> None:
        with self.lock:
            if isinstance(start, str):
                self.emit({"start": "", **dataclasses.asdict(Answer(False, start))})
                return
            assert isinstance(self.program, Bay)
            answer = self.program.start(start.voucher, start.item, start.units)
            self.emit({"start": start.voucher, **dataclasses.asdict(answer)})

    def refused_card(self, uid: str, why: str) -> None:
        with self.lock:
            self.emit({"code": f"card:{uid}", **dataclasses.asdict(Answer(False, why))})


def watch_cards(
    reader: CardReader, bundle: Bundle, console: Console, stop: threading.Event
) -> None:
    """Each card put on the reader, verified here (a forged, copied or cloned card never
    reaches the hub), asked once, then waited off the reader."""
    while not stop.is_set():
        try:
            tap = reader.wait_for_card(CARD_WAIT_MS)
            if tap is None:
                continue
            try:
                card = authenticate_tap(tap, [bundle.issuer_key], CARD_WAIT_MS)
            except CredentialError as exc:
                log.warning("refused a card on chip %s: %s", tap.uid.hex(), exc.reason.value)
                console.refused_card(tap.uid.hex(), CARD_REFUSED)
            else:
                console.shown(CardShown(card.card_id, tap.uid.hex()), f"card:{card.card_id}")
            while not stop.is_set() and not reader.wait_for_removal(CARD_WAIT_MS):
                pass  # one ask per tap: a card left on the reader is not asked again
        except ReaderError as exc:
            log.info("reader: %s", exc)


def watch_starts(link: VoucherLink, console: Console, stop: threading.Event) -> None:
    """The hub's starts for this bay, each through the bay's journal (once per voucher)."""
    while not stop.is_set():
        start = link.next_start(STOP_CHECK_S)
        if start is not None:
            console.started(start)


def _program(link: VoucherLink, data_dir: Path, relay: Relay, fault_pin: int | None) -> Gate | Bay:
    from gpiozero import DigitalInputDevice

    if link.kind is DeviceKind.WASH_BAY:
        fault = DigitalInputDevice(fault_pin) if fault_pin is not None else None
        return Bay(link.ask, relay, BayJournal(data_dir / JOURNAL_FILE), fault)
    return Gate(link.ask, relay)


def run_gate(data_dir: Path, relay_pin: int, fault_pin: int | None, lines: TextIO) -> int:
    from gpiozero import OutputDevice

    bundle = Bundle.load(data_dir / BUNDLE_FILE)
    if bundle.kind not in (DeviceKind.WASH_BAY.value, DeviceKind.GATE.value):
        print(f"error: {bundle.device_id} is a {bundle.kind}, not a gate or bay", file=sys.stderr)
        return 2
    link = VoucherLink(bundle, clock_from_env())
    relay = OutputDevice(relay_pin, initial_value=False)
    program = _program(link, data_dir, relay, fault_pin)
    console = Console(program)
    reader = open_reader(reader_config(bundle, data_dir))
    link.client.start()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEALTH_S):
            link.health(program.alarms())

    threading.Thread(target=beat, daemon=True).start()
    cards = threading.Thread(target=watch_cards, args=(reader, bundle, console, stop))
    cards.start()
    if isinstance(program, Bay):
        threading.Thread(target=watch_starts, args=(link, console, stop), daemon=True).start()
    console.emit({"ready": bundle.device_id, "alarms": program.alarms()})
    try:
        for line in lines:
            code = clean_code(line)
            if code == "!health":  # the tests' and the operator's: report now
                link.health(program.alarms())
            elif code:
                console.shown(shown_of(code), code)
    finally:
        stop.set()
        cards.join()
        reader.close()
        link.client.stop()
        relay.close()
    return 0
