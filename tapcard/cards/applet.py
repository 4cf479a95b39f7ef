"""The tapcard smart-card profile: the APDUs a real JavaCard applet must implement.

`CardApplet` is a reference implementation in Python. It backs the simulated reader,
the vpcd card emulator in the tests and the benchmark, so the reader code is always
exercised against the same behaviour a real card is specified to have
(docs/card-profile.md is the specification; this is its executable form).
"""

from __future__ import annotations

import enum

from nacl.signing import SigningKey

from tapcard.cards.credential import (
    CHALLENGE_BYTES,
    CREDENTIAL_BYTES_MAX,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    answer_challenge,
)
from tapcard.cards.type4 import CLA_NATIVE, NativeChip

# Proprietary, unregistered AID (ISO 7816-5 category 'F'): F0 "tapcard" 01.
TAPCARD_AID = bytes.fromhex("F0") + b"tapcard" + b"\x01"
FILE_ID_CREDENTIAL = 0xCA01
CREDENTIAL_FILE_BYTES = 256
LENGTH_PREFIX_BYTES = 2  # the file starts with the credential length; 0 means blank
assert LENGTH_PREFIX_BYTES + CREDENTIAL_BYTES_MAX <= CREDENTIAL_FILE_BYTES
# One short READ BINARY covers the length prefix and the largest credential.
CREDENTIAL_READ_BYTES = LENGTH_PREFIX_BYTES + CREDENTIAL_BYTES_MAX
assert CREDENTIAL_READ_BYTES <= 255

CLA_ISO = 0x00
CLA_PCSC = 0xFF  # PC/SC part 3 pseudo-APDUs; contactless readers answer them themselves
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_UPDATE_BINARY = 0xD6
INS_INTERNAL_AUTHENTICATE = 0x88
INS_GET_DATA = 0xCA
P1_SELECT_BY_AID = 0x04
P1_SELECT_EF = 0x02
P1P2_CARD_PUBLIC_KEY = 0x0101  # ISO 7816-4: 0100-01FF are proprietary data objects
P1P2_UID = 0x0000  # FF CA 00 00: "get UID" in PC/SC part 3


class StatusWord(enum.IntEnum):
    OK = 0x9000
    END_OF_FILE = 0x6282
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982
    NOT_ALLOWED = 0x6986
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1P2 = 0x6A86
    DATA_NOT_FOUND = 0x6A88
    WRONG_OFFSET = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class CardApplet:
    """One card: its UID, its credential file and (for smart cards) its own key."""

    def __init__(
        self,
        uid: bytes,
        credential: bytes = b"",
        card_key: SigningKey | None = None,
        native: NativeChip | None = None,
    ) -> None:
        assert len(credential) <= CREDENTIAL_BYTES_MAX
        self.uid = uid
        self.card_key = card_key
        self.native = native  # an NXP chip's GetVersion and Read_Sig (tapcard.cards.type4)
        self.file = bytearray(CREDENTIAL_FILE_BYTES)
        self.file[0:LENGTH_PREFIX_BYTES] = len(credential).to_bytes(LENGTH_PREFIX_BYTES, "big")
        self.file[LENGTH_PREFIX_BYTES : LENGTH_PREFIX_BYTES + len(credential)] = credential
        self.app_selected = False
        self.ef_selected = False

    @property
    def credential(self) -> bytes:
        size = int.from_bytes(self.file[0:LENGTH_PREFIX_BYTES], "big")
        return bytes(self.file[LENGTH_PREFIX_BYTES : LENGTH_PREFIX_BYTES + size])

    def reset(self) -> None:
        """Power-on or warm reset: the card forgets its selection."""
        self.app_selected = False
        self.ef_selected = False

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with response data followed by the status word."""
        if len(apdu) < 4:
            return sw_bytes(StatusWord.WRONG_LENGTH)
        cla, ins, p1p2, body = apdu[0], apdu[1], apdu[2] << 8 | apdu[3], apdu[4:]
        if cla == CLA_PCSC and ins == INS_GET_DATA and p1p2 == P1P2_UID:
            return self.uid + sw_bytes(StatusWord.OK)
        if cla == CLA_NATIVE and self.native is not None:
            return self.native.process(ins, body)
        if cla != CLA_ISO:
            return sw_bytes(StatusWord.CLA_NOT_SUPPORTED)
        if ins == INS_SELECT:
            return self._select(apdu[2], body)
        handler = {
            INS_READ_BINARY: self._read_binary,
            INS_UPDATE_BINARY: self._update_binary,
            INS_INTERNAL_AUTHENTICATE: self._internal_authenticate,
            INS_GET_DATA: self._get_data,
        }.get(ins)
        if handler is None:
            return sw_bytes(StatusWord.INS_NOT_SUPPORTED)
        return handler(p1p2, body) if self.app_selected else sw_bytes(StatusWord.NOT_ALLOWED)

    def _get_data(self, p1p2: int, body: bytes) -> bytes:
        if p1p2 != P1P2_CARD_PUBLIC_KEY:
            return sw_bytes(StatusWord.DATA_NOT_FOUND)
        if self.card_key is None:
            return sw_bytes(StatusWord.DATA_NOT_FOUND)
        return bytes(self.card_key.verify_key) + sw_bytes(StatusWord.OK)

    def _select(self, p1: int, body: bytes) -> bytes:
        data = _lc_data(body)
        if data is None:
            return sw_bytes(StatusWord.WRONG_LENGTH)
        if p1 == P1_SELECT_BY_AID:
            self.app_selected = data == TAPCARD_AID
            self.ef_selected = False
            ok = self.app_selected
        elif p1 == P1_SELECT_EF and self.app_selected:
            self.ef_selected = data == FILE_ID_CREDENTIAL.to_bytes(2, "big")
            ok = self.ef_selected
        else:
            ok = False
        return sw_bytes(StatusWord.OK if ok else StatusWord.FILE_NOT_FOUND)

    def _read_binary(self, offset: int, body: bytes) -> bytes:
        if not self.ef_selected:
            return sw_bytes(StatusWord.NOT_ALLOWED)
        if len(body) != 1:
            return sw_bytes(StatusWord.WRONG_LENGTH)
        le = body[0] or 256
        if offset & 0x8000 or offset >= CREDENTIAL_FILE_BYTES:
            return sw_bytes(StatusWord.WRONG_OFFSET)
        data = bytes(self.file[offset : offset + le])
        sw = StatusWord.OK if len(data) == le else StatusWord.END_OF_FILE
        return data + sw_bytes(sw)

    def _update_binary(self, offset: int, body: bytes) -> bytes:
        if not self.ef_selected:
            return sw_bytes(StatusWord.NOT_ALLOWED)
        data = _lc_data(body)
        if data is None or not data:
            return sw_bytes(StatusWord.WRONG_LENGTH)
        if offset & 0x8000 or offset + len(data) > CREDENTIAL_FILE_BYTES:
            return sw_bytes(StatusWord.WRONG_OFFSET)
        self.file[offset : offset + len(data)] = data
        return sw_bytes(StatusWord.OK)

    def _internal_authenticate(self, p1p2: int, body: bytes) -> bytes:
        data = _lc_data(body, le_allowed=True)
        if data is None or len(data) != CHALLENGE_BYTES:
            return sw_bytes(StatusWord.WRONG_LENGTH)
        if self.card_key is None:
            return sw_bytes(StatusWord.DATA_NOT_FOUND)
        signature = answer_challenge(self.card_key, data)
        assert len(signature) == SIGNATURE_BYTES
        return signature + sw_bytes(StatusWord.OK)


def _lc_data(body: bytes, le_allowed: bool = True) -> bytes | None:
    """The command data of a short APDU body (Lc, data, optional Le), or None if malformed."""
    if not body:
        return b""
    lc = body[0]
    rest = body[1:]
    if len(rest) == lc:
        return rest
    if le_allowed and len(rest) == lc + 1:
        return rest[:lc]
    return None


# Assert the profile's lengths agree with the credential module.
assert PUBLIC_KEY_BYTES == 32 and CHALLENGE_BYTES + 5 + 1 <= 255
