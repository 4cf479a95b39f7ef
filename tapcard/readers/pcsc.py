"""PC/SC backend: smart cards of the tapcard profile through pcscd (pyscard).

Uses pyscard's thin `smartcard.scard` layer rather than its monitoring threads, so
that every wait is one SCardGetStatusChange call with our own timeout and no thread
is left behind. pcscd going away (service restart) or the reader being unplugged is
reported by `health()` and ReaderError(NO_READER / FAULT); the next call establishes
a new context and finds the reader again.

A single APDU is bounded by the reader driver, not by us (PC/SC has no per-transmit
timeout); deadlines are checked between APDUs.
"""

from __future__ import annotations

import time
from typing import Any

from smartcard import scard

from tapcard.cards.applet import (
    CLA_ISO,
    CLA_PCSC,
    CREDENTIAL_READ_BYTES,
    FILE_ID_CREDENTIAL,
    INS_GET_DATA,
    INS_INTERNAL_AUTHENTICATE,
    INS_READ_BINARY,
    INS_SELECT,
    INS_UPDATE_BINARY,
    LENGTH_PREFIX_BYTES,
    P1_SELECT_BY_AID,
    P1_SELECT_EF,
    P1P2_CARD_PUBLIC_KEY,
    TAPCARD_AID,
    StatusWord,
)
from tapcard.cards.credential import (
    CHALLENGE_BYTES,
    CREDENTIAL_BYTES_MAX,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    UID_BYTES_MAX,
    UID_BYTES_MIN,
)
from tapcard.cards.originality import Originality
from tapcard.cards.type4 import NXP_ISO_DEP_PUBLIC_KEYS, type4_originality
from tapcard.readers.base import (
    READER_POLL_INTERVAL_MS,
    Backend,
    CardTap,
    Deadline,
    HealthState,
    ReaderError,
    ReaderHealth,
    ReaderReason,
)

# A response of 61xx (T=0: more data waiting) or 6Cxx (wrong Le) is followed up at most
# this many times, so a card that keeps asking cannot hold the reader forever.
APDU_FOLLOW_UPS_MAX = 4
STATUS_WAIT_SLICE_MS = 1000  # re-check for an unplugged reader at least this often

_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_E_NOT_TRANSACTED,
    scard.SCARD_E_INVALID_HANDLE,
}
_NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
_NO_READER = {
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
}


def _describe(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"


class PcscReader:
    def __init__(self, reader_name: str = "", type4_keys: tuple[bytes, ...] | None = None) -> None:
        self._wanted = reader_name  # substring of the PC/SC reader name; "" = first one
        self._type4_keys = NXP_ISO_DEP_PUBLIC_KEYS if type4_keys is None else type4_keys
        self._context: Any = None
        self._reader = ""
        self._card: Any = None
        self._protocol = 0

    @property
    def backend(self) -> Backend:
        return Backend.PCSC

    # -- context and reader discovery -------------------------------------------------

    def _ensure_context(self) -> Any:
        if self._context is None:
            hresult: int
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                raise ReaderError(ReaderReason.FAULT, f"PC/SC service: {_describe(hresult)}")
            self._context = context
        return self._context

    def _drop_context(self) -> None:
        self._disconnect()
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def _fail(self, hresult: int, what: str) -> ReaderError:
        """Map a PC/SC error to a typed one, dropping state that the error made stale."""
        if hresult in _NO_SERVICE:
            self._drop_context()
            return ReaderError(ReaderReason.FAULT, f"{what}: PC/SC service gone")
        if hresult in _REMOVED:
            self._disconnect()
            return ReaderError(ReaderReason.CARD_REMOVED, f"{what}: {_describe(hresult)}")
        if hresult in _NO_READER:
            self._disconnect()
            return ReaderError(ReaderReason.NO_READER, f"{what}: {_describe(hresult)}")
        return ReaderError(ReaderReason.FAULT, f"{what}: {_describe(hresult)}")

    def _find_reader(self) -> str:
        context = self._ensure_context()
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._fail(hresult, "list readers")
        matching = [name for name in readers if self._wanted in name]
        if not matching:
            raise ReaderError(ReaderReason.NO_READER, f"no reader matching {self._wanted!r}")
        return str(matching[0])

    def health(self) -> ReaderHealth:
        try:
            name = self._find_reader()
        except ReaderError as error:
            state = (
                HealthState.NO_READER
                if error.reason is ReaderReason.NO_READER
                else (HealthState.FAULT)
            )
            return ReaderHealth(state, error.detail)
        return ReaderHealth(HealthState.OK, name)

    # -- waiting for cards --------------------------------------------------------------

    def _reader_state(self, reader: str, known: int, timeout_ms: int) -> int:
        """The reader's event state, after a change from `known` or the timeout."""
        hresult, states = scard.SCardGetStatusChange(
            self._ensure_context(), timeout_ms, [(reader, known)]
        )
        if hresult == scard.SCARD_E_TIMEOUT:
            return known
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._fail(hresult, "wait for card")
        return int(states[0][1]) & ~int(scard.SCARD_STATE_CHANGED)

    def _wait_state(self, deadline: Deadline, want_present: bool) -> str | None:
        """The reader name once its card presence is `want_present`, None at the deadline."""
        while True:  # bounded by the deadline: each pass waits or raises
            try:
                reader = self._find_reader()
            except ReaderError as error:
                if error.reason is not ReaderReason.NO_READER or deadline.expired():
                    raise
                _sleep_ms(min(READER_POLL_INTERVAL_MS, deadline.remaining_ms()))
                continue
            state = self._reader_state(reader, scard.SCARD_STATE_UNAWARE, 0)
            while True:
                if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    break  # reader went away: look it up again
                present = bool(state & scard.SCARD_STATE_PRESENT)
                if present == want_present:
                    return reader
                if deadline.expired():
                    return None
                wait_ms = min(STATUS_WAIT_SLICE_MS, deadline.remaining_ms())
                state = self._reader_state(reader, state, wait_ms)

    def wait_for_card(self, timeout_ms: int) -> CardTap | None:
        deadline = Deadline(timeout_ms)
        reader = self._wait_state(deadline, want_present=True)
        if reader is None:
            return None
        self._connect(reader)
        uid = self._get_uid()
        credential = self.read_credential(deadline.remaining_ms())
        card_key = self._get_card_key()
        return CardTap(
            uid=uid,
            credential=credential,
            backend=Backend.PCSC,
            reader_name=reader,
            card_public_key=card_key,
            originality=self._originality(uid, card_key),
            responder=self if card_key is not None else None,
        )

    def _originality(self, uid: bytes, card_key: bytes | None) -> Originality:
        """A card with its own key proves itself by challenge; a key-less one is only as
        good as its chip: NXP ISO-DEP chips are asked for their originality signature."""
        if card_key is not None:
            return Originality.UNCHECKED
        return type4_originality(self._transmit, uid, self._type4_keys)

    def wait_for_removal(self, timeout_ms: int) -> bool:
        deadline = Deadline(timeout_ms)
        try:
            gone = self._wait_state(deadline, want_present=False) is not None
        except ReaderError as error:
            if error.reason is not ReaderReason.NO_READER:
                raise
            gone = True  # the reader itself left, so its card did too
        if gone:
            self._disconnect()
        return gone

    # -- card session -----------------------------------------------------------------

    def _connect(self, reader: str) -> None:
        self._disconnect()
        hresult, card, protocol = scard.SCardConnect(
            self._ensure_context(),
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            if hresult in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_E_PROTO_MISMATCH):
                raise ReaderError(ReaderReason.GARBAGE, f"card does not talk: {_describe(hresult)}")
            raise self._fail(hresult, "connect")
        self._reader, self._card, self._protocol = reader, card, protocol

    def _disconnect(self) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None

    def _transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._card is None:
            raise ReaderError(ReaderReason.NO_CARD, "no card connected; wait for one first")
        command = apdu
        data = b""
        for _ in range(1 + APDU_FOLLOW_UPS_MAX):
            hresult, response = scard.SCardTransmit(self._card, self._protocol, list(command))
            if hresult != scard.SCARD_S_SUCCESS:
                raise self._fail(hresult, f"APDU {apdu[:4].hex()}")
            if not response:
                # Status words are mandatory, so silence means the card left or went mute
                # (vpcd reports a dropped card this way); either way: tap again.
                self._disconnect()
                raise ReaderError(ReaderReason.CARD_REMOVED, f"no answer to {apdu[:4].hex()}")
            if len(response) < 2:
                raise ReaderError(ReaderReason.GARBAGE, f"{len(response)}-byte response")
            body, sw1, sw2 = bytes(response[:-2]), response[-2], response[-1]
            if sw1 == 0x61:  # T=0: more response data, fetch with GET RESPONSE
                data += body
                command = bytes([CLA_ISO, 0xC0, 0, 0, sw2])
            elif sw1 == 0x6C:  # wrong Le: the card tells the right one
                command = apdu[:-1] + bytes([sw2])
            else:
                return data + body, sw1 << 8 | sw2
        raise ReaderError(ReaderReason.GARBAGE, "card keeps asking for follow-up APDUs")

    def _expect(self, apdu: bytes, what: str, *accepted: StatusWord) -> bytes:
        data, sw = self._transmit(apdu)
        if sw not in (accepted or (StatusWord.OK,)):
            raise ReaderError(ReaderReason.CARD_REFUSED, f"{what}: status {sw:04X}")
        return data

    def _get_uid(self) -> bytes:
        uid = self._expect(bytes([CLA_PCSC, INS_GET_DATA, 0, 0, 0]), "get UID")
        if not UID_BYTES_MIN <= len(uid) <= UID_BYTES_MAX:
            raise ReaderError(ReaderReason.GARBAGE, f"UID of {len(uid)} bytes")
        return uid

    def _select_credential_file(self) -> None:
        aid = TAPCARD_AID
        self._expect(bytes([CLA_ISO, INS_SELECT, P1_SELECT_BY_AID, 0, len(aid)]) + aid, "select")
        fid = FILE_ID_CREDENTIAL.to_bytes(2, "big")
        self._expect(bytes([CLA_ISO, INS_SELECT, P1_SELECT_EF, 0x0C, 2]) + fid, "select file")

    def _get_card_key(self) -> bytes | None:
        p1, p2 = P1P2_CARD_PUBLIC_KEY >> 8, P1P2_CARD_PUBLIC_KEY & 0xFF
        apdu = bytes([CLA_ISO, INS_GET_DATA, p1, p2, PUBLIC_KEY_BYTES])
        data, sw = self._transmit(apdu)
        if sw == StatusWord.DATA_NOT_FOUND:
            return None
        if sw != StatusWord.OK or len(data) != PUBLIC_KEY_BYTES:
            raise ReaderError(ReaderReason.GARBAGE, f"card key: {len(data)} bytes, status {sw:04X}")
        return data

    def read_credential(self, timeout_ms: int) -> bytes:
        Deadline(timeout_ms)
        self._select_credential_file()
        read = bytes([CLA_ISO, INS_READ_BINARY, 0, 0, CREDENTIAL_READ_BYTES])
        data = self._expect(read, "read credential", StatusWord.OK, StatusWord.END_OF_FILE)
        if len(data) < LENGTH_PREFIX_BYTES:
            raise ReaderError(ReaderReason.GARBAGE, "credential file shorter than its header")
        size = int.from_bytes(data[:LENGTH_PREFIX_BYTES], "big")
        if size > CREDENTIAL_BYTES_MAX or LENGTH_PREFIX_BYTES + size > len(data):
            raise ReaderError(ReaderReason.GARBAGE, f"credential length {size} is impossible")
        return data[LENGTH_PREFIX_BYTES : LENGTH_PREFIX_BYTES + size]

    def write_credential(self, credential: bytes, timeout_ms: int) -> None:
        deadline = Deadline(timeout_ms)
        if not 0 < len(credential) <= CREDENTIAL_BYTES_MAX:
            raise ReaderError(ReaderReason.NOT_SUPPORTED, f"{len(credential)} bytes do not fit")
        self._select_credential_file()
        # Tearing: clear the length first, then write the body, then the length. A card
        # pulled halfway reads as blank (re-issue it), never as a half-old credential.
        self._update(0, bytes(LENGTH_PREFIX_BYTES))
        self._update(LENGTH_PREFIX_BYTES, credential)
        self._update(0, len(credential).to_bytes(LENGTH_PREFIX_BYTES, "big"))
        if self.read_credential(deadline.remaining_ms()) != credential:
            raise ReaderError(ReaderReason.WRITE_FAILED, "credential did not read back")

    def _update(self, offset: int, data: bytes) -> None:
        apdu = bytes([CLA_ISO, INS_UPDATE_BINARY, offset >> 8, offset & 0xFF, len(data)]) + data
        self._expect(apdu, "write credential")

    def answer_challenge(self, challenge: bytes, timeout_ms: int) -> bytes:
        Deadline(timeout_ms)
        assert len(challenge) == CHALLENGE_BYTES
        apdu = bytes([CLA_ISO, INS_INTERNAL_AUTHENTICATE, 0, 0, len(challenge)]) + challenge
        answer = self._expect(apdu + b"\x00", "internal authenticate")
        if len(answer) != SIGNATURE_BYTES:
            raise ReaderError(ReaderReason.GARBAGE, f"challenge answer of {len(answer)} bytes")
        return answer

    def close(self) -> None:
        self._drop_context()


def _sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)
