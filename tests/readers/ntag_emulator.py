"""An NXP NTAG213 (NFC Forum Type 2 tag) answering nfcpy's UDP driver.

nfcpy's `udp:HOST:PORT` driver plays the reader and sends one datagram per RF frame,
"106A <hex>"; "RFOFF" means the field went off. This emulator answers those frames the
way the chip does: ISO 14443-3A anticollision for a 7-byte UID (SENS_RES 4400, two
cascade levels, SAK 04 then 00), then READ (30), WRITE (A2), GET_VERSION (60) and
READ_SIG (3C). Like the real chip it goes mute on a command it does not know (nfcpy
probes with AUTHENTICATE 1A and then re-selects), so nfcpy runs its real NTAG213 code.

Faults a real or hostile tag may show: `mute_after` stops answering after that many
memory commands (tag pulled mid-read), `garbage_reads` answers READ with 3 bytes,
`signature=None` goes mute on READ_SIG like a UID-changeable clone that lacks it,
`leaves_at_read_sig` leaves the field for good when READ_SIG comes.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

PAGES = 45  # NTAG213: pages 0-44
USER_FIRST_PAGE = 4
USER_BYTES = 144
CC_NTAG213 = bytes([0xE1, 0x10, USER_BYTES // 8, 0x00])
VERSION_NTAG213 = bytes.fromhex("0004040201000F03")
ACK = b"\x0a"
NAK = b"\x00"
BRTY = b"106A"
POLL_S = 0.05  # how soon the thread notices stop()


def _xor(data: bytes) -> int:
    out = 0
    for byte in data:
        out ^= byte
    return out


def ntag213_memory(uid: bytes, ndef_tlv: bytes = b"\x03\x00\xfe") -> bytearray:
    """Factory-fresh NTAG213 memory: UID pages, CC, an empty NDEF message, config."""
    assert len(uid) == 7
    memory = bytearray(PAGES * 4)
    bcc0 = 0x88 ^ _xor(uid[0:3])
    memory[0:4] = uid[0:3] + bytes([bcc0])
    memory[4:8] = uid[3:7]
    memory[8:12] = bytes([_xor(uid[3:7]), 0x48, 0x00, 0x00])
    memory[12:16] = CC_NTAG213
    memory[16 : 16 + len(ndef_tlv)] = ndef_tlv
    memory[40 * 4 : 40 * 4 + 4] = bytes([0x00, 0x00, 0x00, 0xBD])
    memory[41 * 4 : 41 * 4 + 4] = bytes([0x04, 0x00, 0x00, 0xFF])
    return memory


@dataclass
class NtagEmulator:
    uid: bytes
    signature: bytes | None = bytes(32)  # None: a clone that does not know READ_SIG
    memory: bytearray = field(default_factory=bytearray)
    mute_after: int | None = None
    garbage_reads: bool = False
    leaves_at_read_sig: bool = False  # a genuine tag pulled just as READ_SIG is sent
    gone: bool = False  # out of the field: answers nothing, not even anticollision
    memory_commands: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        if not self.memory:
            self.memory = ntag213_memory(self.uid)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(POLL_S)
        self.port = self._sock.getsockname()[1]
        self._active = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ntag-emulator", daemon=True)

    def __enter__(self) -> NtagEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        assert not self._thread.is_alive()
        self._sock.close()

    @property
    def user_bytes(self) -> bytes:
        start = USER_FIRST_PAGE * 4
        return bytes(self.memory[start : start + USER_BYTES])

    def _run(self) -> None:
        while not self._stop.is_set():  # bounded by stop(): each recv times out
            try:
                datagram, addr = self._sock.recvfrom(1024)
            except TimeoutError:
                continue
            if datagram.startswith(b"RFOFF"):
                self._active = False
                continue
            brty, _, payload = datagram.partition(b" ")
            if brty != BRTY:
                continue
            answer = self._answer(bytes.fromhex(payload.decode()))
            if answer is not None:
                self._sock.sendto(BRTY + b" " + answer.hex().encode(), addr)

    def _answer(self, frame: bytes) -> bytes | None:
        if self.gone:
            return None
        cl1 = bytes([0x88]) + self.uid[0:3]
        cl2 = self.uid[3:7]
        if frame in (b"\x26", b"\x52"):
            self._active = False
            return b"\x44\x00"
        if frame == b"\x93\x20":
            return cl1 + bytes([_xor(cl1)])
        if frame == b"\x93\x70" + cl1 + bytes([_xor(cl1)]):
            return b"\x04"
        if frame == b"\x95\x20":
            return cl2 + bytes([_xor(cl2)])
        if frame == b"\x95\x70" + cl2 + bytes([_xor(cl2)]):
            self._active = True
            return b"\x00"
        if not self._active:
            return None
        self.memory_commands += 1
        if self.mute_after is not None and self.memory_commands > self.mute_after:
            return None
        return self._memory_command(frame)

    def _memory_command(self, frame: bytes) -> bytes | None:
        if frame[0] == 0x30 and len(frame) == 2:
            if frame[1] >= PAGES:
                return NAK
            if self.garbage_reads:
                return b"\x01\x02\x03"
            start = frame[1] * 4
            doubled = self.memory + self.memory  # reads roll over past the last page
            return bytes(doubled[start : start + 16])
        if frame[0] == 0xA2 and len(frame) == 6:
            page = frame[1]
            if page < 2 or page >= PAGES:
                return NAK
            self.memory[page * 4 : page * 4 + 4] = frame[2:6]
            return ACK
        if frame == b"\x60":
            return VERSION_NTAG213
        if frame == b"\x3c\x00" and self.leaves_at_read_sig:
            self.gone = True
            return None
        if frame == b"\x3c\x00" and self.signature is not None:
            return self.signature
        # Unknown command (AUTHENTICATE 1A, HLTA 50): the chip goes mute until re-selected.
        self._active = False
        return None
