"""The car park's exit gate and the wash bay controller: a code in, the hub's yes, a relay.

A barcode scanner types the voucher's QR code as keys ending with Enter: each line read
is one code. The program asks the hub on its staff channel (`UseVoucher`, no staff:
hub/gates.py decides by the voucher's item kind, place and expiry, never by this
device's word) and, on a yes, drives its relay through gpiozero. A member's card on the
reader is verified here as a kiosk verifies it (issuer signature, chip, challenge) and
sent with its chip's UID; a member's dynamic QR (tapcard/cards/member_code.py) goes the same way
(`GateCard`): the hub consumes the member's oldest voucher that counts here.

- a gate holds the barrier open for `GATE_OPEN_S`, once per voucher: the hub answers a
  retry within minutes as the first time (`repeat`, for a lost reply), which must not
  let a second car through on a card tapped again;

- a bay pulses its start relay once per code, and never twice across a power cut: the
  code is written to its journal (fsync) before the relay moves and marked done after;
  on start, a code written but not marked done is never pulsed again (the wash may or
  may not have started: staff decide), and a code in the journal is refused here even
  when the hub answers its own retry as the first time. A fault input (the bay
  controller's fault contact) is reported in Health alarms as `bay_fault`. A start the
  hub issues itself (a paired kiosk sold the wash, hub/bays.py) goes through the same
  journal: once per voucher, however often the message comes.

Tests use gpiozero's MockFactory pin factory (GPIOZERO_PIN_FACTORY=mock).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from tapcard.cards import member_code
from tapcard.domain.model import DeviceKind
from tapcard.files import private_file

log = logging.getLogger(__name__)

GATE_OPEN_S: Final = 8.0  # long enough for one car to pass the barrier
BAY_PULSE_S: Final = 0.5  # the wash controller's start input wants a short pulse
ASK_TIMEOUT_S: Final = 5.0
JOURNAL_FILE: Final = "bay-journal.jsonl"
CODE_CHARS_MAX: Final = 32
ALARM_BAY_FAULT: Final = "bay_fault"
ALARM_BAY_INTERRUPTED: Final = "bay_interrupted"  # a start cut off by a power cut


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    error: str = ""  # the hub's error word, or offline / already_started
    item: str = ""
    units: int = 0  # hours of parking, washes
    voucher: str = ""  # the voucher the hub consumed (a card's: the member's oldest)
    repeat: bool = False  # the hub's answer to a retry, as the first time


@dataclass(frozen=True, slots=True)
class CardShown:
    """A member's card as this device verified it (`card_id` on chip `uid`, hex), or the
    member's dynamic QR code (`qr`)."""

    card_id: str = ""
    uid: str = ""
    qr: str = ""


Shown = str | CardShown  # a scanned voucher code, or a member's card or QR


class Relay(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...


class FaultInput(Protocol):
    @property
    def is_active(self) -> bool: ...


Ask = Callable[[Shown], Answer]  # what was shown -> the hub's answer
Sleep = Callable[[float], None]


class BayJournal:
    """The codes a bay has started (or was about to): one JSON line each, fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started: set[str] = set()  # written before the pulse
        self.done: set[str] = set()  # the pulse finished
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:  # a line torn by the power cut: its pulse never ran
                    continue
                (self.done if entry.get("done") else self.started).add(str(entry["code"]))
        else:
            private_file(path)

    @property
    def interrupted(self) -> set[str]:
        return self.started - self.done

    def knows(self, code: str) -> bool:
        return code in self.started or code in self.done

    def write(self, code: str, done: bool) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps({"code": code, "done": done}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        (self.done if done else self.started).add(code)


class Gate:
    """An exit barrier: opens for a parking voucher the hub accepts."""

    def __init__(self, ask: Ask, relay: Relay, sleep: Sleep = time.sleep) -> None:
        self.ask, self.relay, self.sleep = ask, relay, sleep
        self.opened: set[str] = set()  # vouchers this gate opened for since it started

    def alarms(self) -> list[str]:
        return []

    def handle(self, shown: Shown) -> Answer:
        answer = self.ask(shown)
        if answer.ok and answer.repeat and answer.voucher in self.opened:
            return Answer(False, "already_used", answer.item, answer.units, answer.voucher)
        if answer.ok:
            self.opened.add(answer.voucher)
            self.relay.on()
            try:
                self.sleep(GATE_OPEN_S)
            finally:
                self.relay.off()
        return answer


class Bay:
    """A wash bay: starts the wash once per code the hub accepts."""

    def __init__(
        self,
        ask: Ask,
        relay: Relay,
        journal: BayJournal,
        fault: FaultInput | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.ask, self.relay, self.journal = ask, relay, journal
        self.fault, self.sleep = fault, sleep
        self.relay.off()  # on start: never a pulse, whatever the journal holds
        for code in sorted(journal.interrupted):
            log.warning("bay start of %s was cut off before it was marked done", code)

    def alarms(self) -> list[str]:
        alarms = []
        if self.fault is not None and self.fault.is_active:
            alarms.append(ALARM_BAY_FAULT)
        if self.journal.interrupted:
            alarms.append(ALARM_BAY_INTERRUPTED)
        return alarms

    def handle(self, shown: Shown) -> Answer:
        code = shown if isinstance(shown, str) else ""
        if code and self.journal.knows(code):
            return Answer(False, "already_started")
        if self.fault is not None and self.fault.is_active:
            return Answer(False, ALARM_BAY_FAULT)  # asked nothing: the code stays unused
        answer = self.ask(shown)
        if not answer.ok:
            return answer
        key = code or answer.voucher  # a card's start is journalled by its voucher
        if self.journal.knows(key):
            return Answer(False, "already_started", answer.item, answer.units, answer.voucher)
        self._pulse(key)
        return answer

    def start(self, voucher: str, item: str, units: int) -> Answer:
        """A start the hub issued for this bay (a paired kiosk sold the wash): the hub
        consumed the voucher for this bay already; it starts once, however often the
        message comes, and not on a fault (staff decide then)."""
        if self.journal.knows(voucher):
            return Answer(False, "already_started", item, units, voucher)
        if self.fault is not None and self.fault.is_active:
            return Answer(False, ALARM_BAY_FAULT, item, units, voucher)
        self._pulse(voucher)
        return Answer(True, "", item, units, voucher)

    def _pulse(self, key: str) -> None:
        self.journal.write(key, done=False)  # before the relay moves
        self.relay.on()
        try:
            self.sleep(BAY_PULSE_S)
        finally:
            self.relay.off()
        self.journal.write(key, done=True)


def clean_code(line: str) -> str:
    """A scanned line as a code: the scanner's Enter and stray spaces dropped."""
    text = line.strip()
    if member_code.is_member_code(text):
        return text[: member_code.CODE_CHARS_MAX]
    return text[:CODE_CHARS_MAX]


def shown_of(code: str) -> Shown:
    """A cleaned line as what was shown: the member's QR stands for the card."""
    return CardShown(qr=code) if member_code.is_member_code(code) else code


def staff_name(kind: DeviceKind) -> str:
    """What a gate's or a bay's request names as its staff: its kind (it has none)."""
    return kind.value
