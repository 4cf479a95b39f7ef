"""A contact/contactless smart card of the tapcard profile, emulated for vpcd.

Runs as its own process, as a real card is its own device: it connects to the port on
which pcscd's vpcd driver listens and answers vpcd's framing (2-byte big-endian
length, then either a 1-byte control message or a command APDU). The card logic is
the reference `CardApplet`; the faults a real card or a hostile one may show are
switched on by --fault:

  remove:N     drop the connection (card pulled) when APDU number N arrives
  garbage:N    answer APDU number N with one meaningless byte
  badlen:0     claim a credential length longer than the file holds
  wrongsig:0   answer INTERNAL AUTHENTICATE with a signature by another key
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import struct
import sys
import time

from nacl.signing import SigningKey

from tapcard.cards.applet import INS_INTERNAL_AUTHENTICATE, CardApplet, StatusWord, sw_bytes
from tapcard.cards.type4 import NativeChip

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04
# T=1 ATR: TS=3B, T0=87 (TD1 follows, 7 historical bytes), TD1=80 (TD2 follows),
# TD2=01 (T=1), historical bytes "tapcard", then TCK (XOR of T0..last).
_ATR_BODY = bytes([0x87, 0x80, 0x01]) + b"tapcard"
CONNECT_TRIES_MAX = 200  # 10 ms apart: pcscd's vpcd driver may not listen yet


def _atr() -> bytes:
    tck = 0
    for byte in _ATR_BODY:
        tck ^= byte
    return bytes([0x3B]) + _ATR_BODY + bytes([tck])


def _recv_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("vpcd closed the connection")
        data += chunk
    # Linux resets QUICKACK after use; without it every APDU waits ~40 ms for a delayed ACK.
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    return data


def _send(conn: socket.socket, payload: bytes) -> None:
    conn.sendall(struct.pack(">H", len(payload)) + payload)


def _connect(port: int) -> socket.socket:
    for _ in range(CONNECT_TRIES_MAX):
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(0.01)
            continue
        conn.settimeout(None)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return conn
    raise SystemExit(f"vpcd on port {port} never listened")


def _answer(applet: CardApplet, apdu: bytes, fault: str, number: int, at: int) -> bytes | None:
    if fault == "remove" and number == at:
        return None
    if fault == "garbage" and number == at:
        return b"\x42"
    if fault == "badlen" and apdu[1:2] == b"\xb0":
        response = applet.process(apdu)
        return b"\x7f\xff" + response[2:]
    if fault == "wrongsig" and apdu[1] == INS_INTERNAL_AUTHENTICATE:
        impostor = CardApplet(applet.uid, b"", SigningKey.generate())
        impostor.app_selected = True
        return impostor.process(apdu)
    return applet.process(apdu)


def serve(conn: socket.socket, applet: CardApplet, fault: str, at: int) -> None:
    number = 0
    while True:  # ends when vpcd hangs up or the card is "pulled"
        (size,) = struct.unpack(">H", _recv_exact(conn, 2))
        message = _recv_exact(conn, size)
        if size == 1:
            if message[0] == CTRL_GET_ATR:
                _send(conn, _atr())
            elif message[0] in (CTRL_POWER_ON, CTRL_RESET, CTRL_POWER_OFF):
                applet.reset()
            continue
        number += 1
        response = _answer(applet, message, fault, number, at)
        if response is None:
            conn.close()
            return
        _send(conn, response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uid", required=True)
    parser.add_argument("--credential", default="")
    parser.add_argument("--card-seed", default="")
    parser.add_argument("--fault", default="none:0")
    parser.add_argument("--native-version", default="")  # hex: an NXP chip's GetVersion
    parser.add_argument("--native-signature", default="")  # hex, or "" for Read_Sig refused
    args = parser.parse_args()
    key = SigningKey(bytes.fromhex(args.card_seed)) if args.card_seed else None
    native = None
    if args.native_version:
        signature = bytes.fromhex(args.native_signature) if args.native_signature else None
        native = NativeChip(bytes.fromhex(args.native_version), signature)
    applet = CardApplet(bytes.fromhex(args.uid), bytes.fromhex(args.credential), key, native)
    fault, at = args.fault.split(":")
    conn = _connect(args.port)
    print("inserted", flush=True)
    with contextlib.suppress(ConnectionError, OSError):  # vpcd hung up: card is out
        serve(conn, applet, fault, int(at))
    # The final file content lets a test check what a write left on the card.
    print("credential", applet.credential.hex(), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    assert StatusWord.OK == 0x9000 and sw_bytes(StatusWord.OK) == b"\x90\x00"
    main()
