"""A simulated reader for demos and development: no hardware, same interface.

Cards are "tapped" in process with `SimReader.tap(card)` or, from another process
(a demo script, a second terminal), through a Unix socket that takes one JSON command
per connection: {"op": "tap", "uid": hex, "credential": hex, "card_seed": hex|null}
or {"op": "remove"}. The card behind a tap is the reference `CardApplet`, so writes and
challenge answers behave as a real card of the profile would.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import msgspec
from nacl.signing import SigningKey

from tapcard.cards.applet import CardApplet
from tapcard.cards.credential import (
    CHALLENGE_BYTES,
    CREDENTIAL_BYTES_MAX,
    answer_challenge,
    derive_card_signing_key,
    issue_credential,
)
from tapcard.cards.originality import Originality
from tapcard.cards.type4 import (
    NXP_ISO_DEP_PUBLIC_KEYS,
    NativeChip,
    transmit_to,
    type4_originality,
)
from tapcard.readers.base import (
    Backend,
    CardTap,
    Deadline,
    HealthState,
    ReaderError,
    ReaderHealth,
    ReaderReason,
)

SIM_COMMAND_BYTES_MAX = 4096  # one JSON command; a credential is at most ~150 bytes
SIM_ACCEPT_POLL_MS = 200  # how soon the socket thread notices close()
SIM_CLIENT_TIMEOUT_MS = 2000


@dataclass(frozen=True, slots=True)
class SimCard:
    uid: bytes
    credential: bytes = b""
    card_seed: bytes | None = None  # the card's Ed25519 seed; None for a plain NFC tag
    # An NXP ISO-DEP chip's GetVersion and Read_Sig (None: the chip has no native side)
    native: NativeChip | None = None


class _SimCommand(msgspec.Struct, frozen=True):
    op: str
    uid: str = ""
    credential: str = ""
    card_seed: str | None = None


def make_sim_card(
    issuer_key: SigningKey,
    master_secret: bytes,
    card_id: str,
    uid: bytes,
    issued_on: dt.date,
) -> SimCard:
    """A simulated smart card with a per-card key and a credential that names it."""
    card_key = derive_card_signing_key(master_secret, card_id, uid)
    credential = issue_credential(issuer_key, card_id, uid, issued_on, bytes(card_key.verify_key))
    return SimCard(uid=uid, credential=credential, card_seed=bytes(card_key))


class SimReader:
    def __init__(
        self,
        socket_path: str = "",
        reader_name: str = "sim",
        type4_keys: tuple[bytes, ...] | None = None,
    ) -> None:
        self._reader_name = reader_name
        self._type4_keys = NXP_ISO_DEP_PUBLIC_KEYS if type4_keys is None else type4_keys
        self._changed = threading.Condition()
        self._applet: CardApplet | None = None
        self._stop = threading.Event()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        if socket_path:
            self._listen(socket_path)

    @property
    def backend(self) -> Backend:
        return Backend.SIM

    def tap(self, card: SimCard) -> None:
        key = SigningKey(card.card_seed) if card.card_seed is not None else None
        with self._changed:
            self._applet = CardApplet(card.uid, card.credential, key, card.native)
            self._changed.notify_all()

    def remove(self) -> None:
        with self._changed:
            self._applet = None
            self._changed.notify_all()

    def health(self) -> ReaderHealth:
        return ReaderHealth(HealthState.OK, "simulated reader")

    def wait_for_card(self, timeout_ms: int) -> CardTap | None:
        deadline = Deadline(timeout_ms)
        with self._changed:
            self._changed.wait_for(lambda: self._applet is not None, deadline.remaining_ms() / 1000)
            applet = self._applet
        if applet is None:
            return None
        key = applet.card_key
        # A card that answers challenges proves itself; a key-less one has its chip checked.
        originality = (
            Originality.UNCHECKED
            if key is not None
            else type4_originality(transmit_to(applet.process), applet.uid, self._type4_keys)
        )
        return CardTap(
            uid=applet.uid,
            credential=applet.credential,
            backend=Backend.SIM,
            reader_name=self._reader_name,
            card_public_key=bytes(key.verify_key) if key is not None else None,
            originality=originality,
            responder=self if key is not None else None,
        )

    def _present(self) -> CardApplet:
        with self._changed:
            if self._applet is None:
                raise ReaderError(ReaderReason.NO_CARD, "no simulated card in the field")
            return self._applet

    def read_credential(self, timeout_ms: int) -> bytes:
        Deadline(timeout_ms)  # checks the bound like the real backends
        return self._present().credential

    def write_credential(self, credential: bytes, timeout_ms: int) -> None:
        Deadline(timeout_ms)
        if not 0 < len(credential) <= CREDENTIAL_BYTES_MAX:
            raise ReaderError(ReaderReason.NOT_SUPPORTED, f"{len(credential)} bytes do not fit")
        applet = self._present()
        fresh = CardApplet(applet.uid, credential, applet.card_key)
        applet.file[:] = fresh.file
        if applet.credential != credential:
            raise ReaderError(ReaderReason.WRITE_FAILED, "read-back differs")

    def answer_challenge(self, challenge: bytes, timeout_ms: int) -> bytes:
        Deadline(timeout_ms)
        applet = self._present()
        if applet.card_key is None or len(challenge) != CHALLENGE_BYTES:
            raise ReaderError(ReaderReason.NOT_SUPPORTED, "simulated card has no key")
        return answer_challenge(applet.card_key, challenge)

    def wait_for_removal(self, timeout_ms: int) -> bool:
        deadline = Deadline(timeout_ms)
        with self._changed:
            return self._changed.wait_for(
                lambda: self._applet is None, deadline.remaining_ms() / 1000
            )

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * SIM_ACCEPT_POLL_MS / 1000)
            assert not self._thread.is_alive()
        if self._server is not None:
            path = self._server.getsockname()
            self._server.close()
            Path(path).unlink(missing_ok=True)
            self._server = None

    def _listen(self, socket_path: str) -> None:
        Path(socket_path).unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(socket_path)
        os.chmod(socket_path, 0o600)  # only this user may tap cards on this device
        server.listen(4)
        server.settimeout(SIM_ACCEPT_POLL_MS / 1000)
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="sim-reader", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(SIM_CLIENT_TIMEOUT_MS / 1000)
                conn.sendall(self._handle(_recv_line(conn)))

    def _handle(self, line: bytes) -> bytes:
        try:
            command = msgspec.json.decode(line, type=_SimCommand)
            if command.op == "remove":
                self.remove()
            elif command.op == "tap":
                seed = bytes.fromhex(command.card_seed) if command.card_seed else None
                card = SimCard(bytes.fromhex(command.uid), bytes.fromhex(command.credential), seed)
                self.tap(card)
            else:
                return b"error unknown op\n"
        except (msgspec.DecodeError, ValueError) as error:
            return f"error {error}\n".encode()
        return b"ok\n"


def _recv_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < SIM_COMMAND_BYTES_MAX:
        try:
            chunk = conn.recv(SIM_COMMAND_BYTES_MAX)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def send_sim_command(socket_path: str, card: SimCard | None) -> str:
    """Tap `card` on (or, with None, remove the card from) a SimReader in another process."""
    payload: dict[str, str | None]
    if card is None:
        payload = {"op": "remove"}
    else:
        payload = {
            "op": "tap",
            "uid": card.uid.hex(),
            "credential": card.credential.hex(),
            "card_seed": card.card_seed.hex() if card.card_seed else None,
        }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(SIM_CLIENT_TIMEOUT_MS / 1000)
        conn.connect(socket_path)
        conn.sendall(msgspec.json.encode(payload) + b"\n")
        return _recv_line(conn).decode()
