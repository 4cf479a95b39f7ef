"""Originality of NXP ISO-DEP (Type 4) chips: GetVersion, then Read_Sig, checked offline.

NTAG 4xx DNA and MIFARE DESFire EV2, EV3 and Light answer NXP's native commands wrapped
in ISO 7816-4 APDUs (CLA 0x90): GetVersion (0x60, three frames of 7, 7 and 7+ bytes,
0x91AF asking for the next with 0xAF) names the vendor, type and hardware version, and
Read_Sig (0x3C, address 0x00) returns NXP's ECDSA secp224r1 signature over the chip's
UID (56 bytes, r || s), as NXP's AN12196 and AN12343 describe. Unauthenticated, the
signature comes in plain.

Checked models (SIGNING_MODELS): vendor NXP (0x04) with type 0x04 (NTAG 4xx DNA), type
0x08 (DESFire Light) or type 0x01 with hardware major version 0x12 or later (DESFire
EV2, EV3). For those, no signature, an all-zero one or a refused Read_Sig is MISSING (a
suspected clone, refused for stored-value card kinds), a wrong one NOT_GENUINE. Not
checked (UNCHECKED): a chip that does not answer GetVersion as one of those models
(DESFire EV1, other vendors, JavaCards, our own applet), since nothing proves what it
is; such a card can only be trusted through a credential that names a card key (the
challenge) or the rules' allowance for kinds without stored value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tapcard.cards.originality import SECP224R1, Originality, check_originality

log = logging.getLogger(__name__)

CLA_NATIVE: Final = 0x90
INS_GET_VERSION: Final = 0x60
INS_ADDITIONAL_FRAME: Final = 0xAF
INS_READ_SIG: Final = 0x3C
READ_SIG_ADDRESS: Final = 0x00
SW_NATIVE_OK: Final = 0x9100
SW_NATIVE_MORE: Final = 0x91AF
SW_ISO_OK: Final = 0x9000
SW_NATIVE_OK_ALT: Final = 0x9190  # some NTAG 424 firmware ends Read_Sig with 91 90
VERSION_FRAMES_MAX: Final = 3
VERSION_PART_BYTES: Final = 7
SIGNATURE_224_BYTES: Final = 2 * SECP224R1.size  # 56
VENDOR_NXP: Final = 0x04
TYPE_DESFIRE: Final = 0x01
TYPE_NTAG4XX: Final = 0x04
TYPE_DESFIRE_LIGHT: Final = 0x08
DESFIRE_EV2_MAJOR_MIN: Final = 0x12  # EV1 (0x01) has no originality signature

# NXP's published originality keys for these chips (AN12196, AN12343; the same list
# public tools check against). Each signature is tried against all of them.
NXP_ISO_DEP_PUBLIC_KEYS: Final = tuple(
    bytes.fromhex(key)
    for key in (
        "04B304DC4C615F5326FE9383DDEC9AA892DF3A57FA7FFB3276192BC0EA"
        "A252ED45A865E3B093A3D0DCE5BE29E92F1392CE7DE321E3E5C52B3A",  # NTAG 424 DNA, EV2
        "048A9B380AF2EE1B98DC417FECC263F8449C7625CECE82D9B916C992DA"
        "209D68422B81EC20B65A66B5102A61596AF3379200599316A00A1410",  # NTAG 424 DNA, EV2
        "041DB46C145D0A36539C6544BD6D9B0AA62FF91EC48CBC6ABAE36E0089"
        "A46F0D08C8A715EA40A63313B92E90DDC1730230E0458A33276FB743",  # DESFire EV3
        "040E98E117AAA36457F43173DC920A8757267F44CE4EC5ADD3C5407557"
        "1AEBBF7B942A9774A1D94AD02572427E5AE0A2DD36591B1FB34FCF3D",  # DESFire Light
    )
)

# One APDU out, (response data, status word) back; raises the reader's own errors.
Transmit = Callable[[bytes], tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class ChipVersion:
    vendor: int
    hw_type: int
    hw_major: int

    @property
    def signs_uid(self) -> bool:
        """Whether this model has an NXP originality signature to give."""
        if self.vendor != VENDOR_NXP:
            return False
        if self.hw_type in (TYPE_NTAG4XX, TYPE_DESFIRE_LIGHT):
            return True
        return self.hw_type == TYPE_DESFIRE and self.hw_major >= DESFIRE_EV2_MAJOR_MIN


def native_apdu(ins: int, data: bytes = b"") -> bytes:
    """A native command wrapped in ISO 7816-4: 90 INS 00 00 [Lc data] 00."""
    body = bytes([len(data)]) + data if data else b""
    return bytes([CLA_NATIVE, ins, 0, 0]) + body + b"\x00"


def get_version(transmit: Transmit) -> ChipVersion | None:
    """The chip's hardware version, or None if it does not answer GetVersion."""
    data, sw = transmit(native_apdu(INS_GET_VERSION))
    if sw not in (SW_NATIVE_MORE, SW_NATIVE_OK) or len(data) < VERSION_PART_BYTES:
        return None
    version = ChipVersion(vendor=data[0], hw_type=data[1], hw_major=data[3])
    for _ in range(VERSION_FRAMES_MAX - 1):  # finish the command: the chip expects it
        if sw != SW_NATIVE_MORE:
            break
        _, sw = transmit(native_apdu(INS_ADDITIONAL_FRAME))
    return version


def read_signature(transmit: Transmit) -> bytes | None:
    """Read_Sig's 56 bytes, or None when the chip refuses it or answers another length."""
    data, sw = transmit(native_apdu(INS_READ_SIG, bytes([READ_SIG_ADDRESS])))
    if sw not in (SW_NATIVE_OK, SW_NATIVE_OK_ALT, SW_ISO_OK):
        return None
    return data if len(data) == SIGNATURE_224_BYTES else None


def type4_originality(
    transmit: Transmit, uid: bytes, public_keys: tuple[bytes, ...] = NXP_ISO_DEP_PUBLIC_KEYS
) -> Originality:
    """Judge an ISO-DEP chip: UNCHECKED unless GetVersion names a signing model; then
    GENUINE, NOT_GENUINE or MISSING (none, all-zero, or Read_Sig refused)."""
    version = get_version(transmit)
    if version is None or not version.signs_uid:
        return Originality.UNCHECKED
    signature = read_signature(transmit)
    if signature is None:
        log.warning(
            "chip %s (NXP type %02x) gave no originality signature", uid.hex(), version.hw_type
        )
    return check_originality(uid, signature, list(public_keys), SECP224R1)


class NativeChip:
    """The NXP native side of an emulated ISO-DEP chip (the applet behind the simulated
    reader and the vpcd card): GetVersion's three frames and Read_Sig. `signature` None
    makes Read_Sig refused (0x911C), as on a clone that only copies the UID."""

    def __init__(self, version: bytes, signature: bytes | None) -> None:
        assert len(version) == VERSION_PART_BYTES * 2 + 14
        self.version = version
        self.signature = signature
        self._frames: list[bytes] = []

    def process(self, ins: int, body: bytes) -> bytes:
        """Answer one wrapped native command: data, then the status word."""
        if ins == INS_GET_VERSION:
            part = VERSION_PART_BYTES
            self._frames = [self.version[part : 2 * part], self.version[2 * part :]]
            return self.version[:part] + SW_NATIVE_MORE.to_bytes(2, "big")
        if ins == INS_ADDITIONAL_FRAME and self._frames:
            frame = self._frames.pop(0)
            sw = SW_NATIVE_MORE if self._frames else SW_NATIVE_OK
            return frame + sw.to_bytes(2, "big")
        self._frames = []
        if ins == INS_READ_SIG and self.signature is not None:
            return self.signature + SW_NATIVE_OK.to_bytes(2, "big")
        return NATIVE_ILLEGAL_COMMAND.to_bytes(2, "big")


NATIVE_ILLEGAL_COMMAND: Final = 0x911C
# GetVersion as an NTAG 424 DNA answers it (hardware, software, UID and batch frames).
NTAG424_VERSION: Final = bytes.fromhex("04040230001105040402010011050000000000000000000000000000")


def transmit_to(process: Callable[[bytes], bytes]) -> Transmit:
    """A Transmit over an in-process card (CardApplet.process): data and status apart."""

    def transmit(apdu: bytes) -> tuple[bytes, int]:
        answer = process(apdu)
        return answer[:-2], int.from_bytes(answer[-2:], "big")

    return transmit
