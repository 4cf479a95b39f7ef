"""Card readers: one `CardReader` interface, backends pcsc, nfc and sim.

`open_reader(config)` picks the backend once, from configuration. The backends import
their hardware libraries (pyscard, nfcpy) only when chosen, so a kiosk running the
simulated reader needs neither installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapcard.readers.base import (
    Backend,
    CardReader,
    CardTap,
    HealthState,
    ReaderError,
    ReaderHealth,
    ReaderReason,
    UncheckedAllowed,
    authenticate_tap,
)

__all__ = [
    "Backend",
    "CardReader",
    "CardTap",
    "HealthState",
    "ReaderConfig",
    "ReaderError",
    "ReaderHealth",
    "ReaderReason",
    "UncheckedAllowed",
    "authenticate_tap",
    "open_reader",
]


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    backend: Backend = Backend.SIM
    # pcsc: substring of the PC/SC reader name ("" = first reader);
    # nfc: nfcpy device path ("usb", "tty:AMA0:pn532", "udp:127.0.0.1:54321").
    reader: str = ""
    sim_socket_path: str = ""  # sim: Unix socket that takes taps; "" = in-process only
    # nfc: NTAG originality keys (uncompressed secp128r1 points); empty = NXP's key.
    originality_keys: tuple[bytes, ...] = ()


def open_reader(config: ReaderConfig) -> CardReader:
    if config.backend is Backend.PCSC:
        from tapcard.readers.pcsc import PcscReader

        return PcscReader(config.reader)
    if config.backend is Backend.NFC:
        from tapcard.readers.nfcpy import NfcpyReader

        keys = list(config.originality_keys) or None
        return NfcpyReader(config.reader or "usb", keys)
    from tapcard.readers.sim import SimReader

    return SimReader(config.sim_socket_path)
