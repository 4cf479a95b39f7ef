"""NFC backend: NFC Forum tags through nfcpy (ACR122U, PN532, or nfcpy's UDP driver).

The credential travels as one NDEF record of the external type
`tapcard.example:cred`. NTAG21x chips also get their NXP originality signature
checked (READ_SIG), and Type 4 tags that name themselves NXP NTAG 4xx DNA or DESFire
EV2/EV3/Light (tapcard/cards/type4.py: GetVersion, Read_Sig): none or an all-zero one
is Originality.MISSING (a suspected clone); other tags report Originality.UNCHECKED.
Tags cannot answer a challenge, so their credentials carry no card key and `responder`
is None.

Every clf.connect() gets a terminate deadline. A sense cycle itself is bounded by the
driver (milliseconds on a PN53x, one second on the UDP driver), so a call returns at
most that much after its timeout.
"""

from __future__ import annotations

import time
from typing import Any

import ndef
import nfc
import nfc.tag.tt2_nxp
import nfc.tag.tt4

from tapcard.cards.credential import CREDENTIAL_BYTES_MAX
from tapcard.cards.originality import (
    NXP_NTAG21X_PUBLIC_KEY,
    SIGNATURE_BYTES,
    Originality,
    check_originality,
)
from tapcard.cards.type4 import NXP_ISO_DEP_PUBLIC_KEYS, Transmit, type4_originality
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

# NFC Forum external type (TNF 4); ndeflib spells those with the urn:nfc:ext: prefix.
CREDENTIAL_RECORD_TYPE = "urn:nfc:ext:tapcard.example:cred"
PRESENCE_POLL_INTERVAL_MS = 100  # how often wait_for_removal checks the tag is still there
# NTAG21x and ISO 14443-4A cards (Type 4) answer at 106 kbit/s type A. Each extra target
# costs a sense round per wait (1 s on the UDP driver), so only what we issue is polled.
SENSE_TARGETS = ("106A",)
SENSE_INTERVAL_S = 0.05  # pause between sense rounds inside one connect()
APDU_RESPONSE_BYTES_MAX = 256  # short Le: Read_Sig's 56 bytes and GetVersion's frames fit
SW_LOST_FRAME = 0x6F00  # ISO 7816-4 "no precise diagnosis": what a lost answer reads as

# nfcpy raises these when the tag leaves the field or garbles a frame.
_TAG_ERRORS = (nfc.tag.TagCommandError, nfc.clf.CommunicationError)


class NfcpyReader:
    def __init__(
        self,
        path: str,
        originality_keys: list[bytes] | None = None,
        type4_keys: tuple[bytes, ...] | None = None,
    ) -> None:
        self._path = path  # "usb", "usb:072f:2200", "tty:S0:pn532", "udp:127.0.0.1:54321"
        self._keys = originality_keys if originality_keys is not None else [NXP_NTAG21X_PUBLIC_KEY]
        self._type4_keys = NXP_ISO_DEP_PUBLIC_KEYS if type4_keys is None else type4_keys
        self._clf: Any = None
        self._tag: Any = None

    @property
    def backend(self) -> Backend:
        return Backend.NFC

    def _frontend(self) -> Any:
        if self._clf is None:
            try:
                self._clf = nfc.ContactlessFrontend(self._path)
            except OSError as error:
                raise ReaderError(ReaderReason.NO_READER, f"{self._path}: {error}") from error
        return self._clf

    def health(self) -> ReaderHealth:
        try:
            clf = self._frontend()
        except ReaderError as error:
            return ReaderHealth(HealthState.NO_READER, error.detail)
        return ReaderHealth(HealthState.OK, str(clf.device))

    def wait_for_card(self, timeout_ms: int) -> CardTap | None:
        deadline = Deadline(timeout_ms)
        clf = self._connect_frontend(deadline)
        if clf is None:
            return None
        options = {
            "targets": list(SENSE_TARGETS),
            "on-connect": lambda tag: False,  # return the tag at once, we drive it
            "beep-on-connect": False,
            "iterations": 1,
            "interval": SENSE_INTERVAL_S,
        }
        try:
            tag = clf.connect(rdwr=options, terminate=deadline.expired)
        except OSError as error:  # USB reader unplugged mid-wait
            self._drop_frontend()
            raise ReaderError(ReaderReason.NO_READER, str(error)) from error
        if not tag:
            return None
        self._tag = tag
        credential = self.read_credential(deadline.remaining_ms())
        return CardTap(
            uid=bytes(tag.identifier),
            credential=credential,
            backend=Backend.NFC,
            reader_name=str(clf.device),
            card_public_key=None,
            originality=self._originality(tag),
            responder=None,
        )

    def _connect_frontend(self, deadline: Deadline) -> Any:
        """The frontend, waiting up to the deadline for an unplugged reader to return."""
        while True:  # bounded by the deadline
            try:
                return self._frontend()
            except ReaderError:
                if deadline.expired():
                    raise
                time.sleep(min(READER_POLL_INTERVAL_MS, deadline.remaining_ms()) / 1000)

    def _drop_frontend(self) -> None:
        self._tag = None
        if self._clf is not None:
            self._clf.close()
            self._clf = None

    def _originality(self, tag: Any) -> Originality:
        if isinstance(tag, nfc.tag.tt4.Type4Tag):
            transmit = self._tt4_transmit(tag)
            return type4_originality(transmit, bytes(tag.identifier), self._type4_keys)
        if not isinstance(tag, nfc.tag.tt2_nxp.NTAG21x):
            return Originality.UNCHECKED
        try:
            signature = bytes(tag.signature)  # nfcpy answers 32 zero bytes when unsupported
        except _TAG_ERRORS:
            signature = bytes(SIGNATURE_BYTES)
        if signature == bytes(SIGNATURE_BYTES) and not self._still_there(tag):
            # A genuine tag pulled during READ_SIG must not read as a signature-less clone.
            raise ReaderError(ReaderReason.CARD_REMOVED, "tag left during READ_SIG")
        return check_originality(bytes(tag.identifier), signature, self._keys)

    def _tt4_transmit(self, tag: Any) -> Transmit:
        """APDUs to a Type 4 tag. A frame lost while the tag stays reads as a refusal
        (status 6F00: a chip that mutes on a native command is no signing model, and
        one that named itself so and then mutes on Read_Sig has no signature); a tag
        that left is CARD_REMOVED, never a suspected clone."""

        def transmit(apdu: bytes) -> tuple[bytes, int]:
            data = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else None
            try:
                answer = bytes(
                    tag.send_apdu(
                        *apdu[:4], data=data, mrl=APDU_RESPONSE_BYTES_MAX, check_status=False
                    )
                )
            except _TAG_ERRORS:
                if not self._still_there(tag):
                    raise ReaderError(
                        ReaderReason.CARD_REMOVED, "tag left during Read_Sig"
                    ) from None
                return b"", SW_LOST_FRAME
            if len(answer) < 2:
                return b"", SW_LOST_FRAME
            return answer[:-2], int.from_bytes(answer[-2:], "big")

        return transmit

    def _still_there(self, tag: Any) -> bool:
        """Whether the tag is still in the field. A chip that does not know READ_SIG goes
        mute until it is selected again, so a failed presence check senses once more."""
        try:
            if tag.is_present:
                return True
            found = tag.clf.sense(tag.target)
        except _TAG_ERRORS:
            return False
        return found is not None and bytes(found.sdd_res) == bytes(tag.identifier)

    def _present_tag(self) -> Any:
        if self._tag is None:
            raise ReaderError(ReaderReason.NO_CARD, "no tag connected; wait for one first")
        return self._tag

    def read_credential(self, timeout_ms: int) -> bytes:
        Deadline(timeout_ms)
        tag = self._present_tag()
        try:
            message = tag.ndef
            records = list(message.records) if message is not None else []
        except _TAG_ERRORS as error:
            raise ReaderError(ReaderReason.CARD_REMOVED, f"reading NDEF: {error!r}") from error
        except ndef.DecodeError as error:
            raise ReaderError(ReaderReason.GARBAGE, f"NDEF does not decode: {error}") from error
        if message is None:
            # No NDEF structure: either not formatted or the read broke off; both unusable.
            if not tag.is_present:
                raise ReaderError(ReaderReason.CARD_REMOVED, "tag left during the read")
            raise ReaderError(ReaderReason.GARBAGE, "tag holds no readable NDEF data")
        ours = [r for r in records if r.type == CREDENTIAL_RECORD_TYPE]
        if len(ours) > 1:
            raise ReaderError(ReaderReason.GARBAGE, "more than one credential record")
        return bytes(ours[0].data) if ours else b""

    def write_credential(self, credential: bytes, timeout_ms: int) -> None:
        Deadline(timeout_ms)
        tag = self._present_tag()
        if not 0 < len(credential) <= CREDENTIAL_BYTES_MAX:
            raise ReaderError(ReaderReason.NOT_SUPPORTED, f"{len(credential)} bytes do not fit")
        message = tag.ndef
        if message is None or not message.is_writeable:
            raise ReaderError(ReaderReason.NOT_SUPPORTED, "tag is not NDEF-writable")
        record = ndef.Record(CREDENTIAL_RECORD_TYPE, "", credential)
        try:
            message.records = [record]
            # has_changed re-reads the tag and compares it with what we just wrote.
            changed = message.has_changed
        except _TAG_ERRORS as error:
            raise ReaderError(ReaderReason.CARD_REMOVED, f"writing NDEF: {error!r}") from error
        except ValueError as error:  # nfcpy: the message does not fit the tag
            raise ReaderError(ReaderReason.NOT_SUPPORTED, str(error)) from error
        if changed or self.read_credential(timeout_ms) != credential:
            raise ReaderError(ReaderReason.WRITE_FAILED, "credential did not read back")

    def answer_challenge(self, challenge: bytes, timeout_ms: int) -> bytes:
        raise ReaderError(ReaderReason.NOT_SUPPORTED, "NFC tags cannot answer challenges")

    def wait_for_removal(self, timeout_ms: int) -> bool:
        deadline = Deadline(timeout_ms)
        tag = self._tag
        while tag is not None:  # bounded by the deadline
            try:
                present = tag.is_present
            except _TAG_ERRORS:
                present = False
            if not present:
                break
            if deadline.expired():
                return False
            time.sleep(min(PRESENCE_POLL_INTERVAL_MS, deadline.remaining_ms()) / 1000)
        self._tag = None
        return True

    def close(self) -> None:
        self._drop_frontend()
