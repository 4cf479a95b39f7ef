"""An emulated NTAG213 (`ntag_emulator.NtagEmulator`) in a process of its own.

A real tag answers within microseconds whatever the reader's host is doing. A tag
thread inside a busy process (runtime, hub, MQTT threads) waits for the GIL and may
answer after nfcpy's READ timeout (5 ms); nfcpy then retries, and its UDP driver pairs
the late answer with the next command, so the session goes out of step (a signature
read returns page data). bench/tap.py therefore runs the tag here, as vpcd_card.py runs
the smart card.

The parent talks to it over stdin/stdout, one line each way; the first line out is
"port N" (the UDP port the tag listens on). Commands:

  load UID SIGNATURE MEMORY   put this tag in the field (hex; MEMORY "-": factory-fresh)
  dump                        the tag's memory as hex (what a write left on it)
  quit
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ntag_emulator import NtagEmulator, ntag213_memory

REPLY_TIMEOUT_S = 5.0  # a command is handled at once; this only catches a dead process


class NtagProcess:
    """The parent's handle: start the process, swap tags in its field, stop it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        word, _, port = self._line().partition(" ")
        assert word == "port", word
        self.port = int(port)

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"NTAG process ended (exit code {self.process.poll()})")
        return line

    def _ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._line()

    def load(self, uid: bytes, signature: bytes, memory: bytes | None = None) -> None:
        body = memory.hex() if memory is not None else "-"
        assert self._ask(f"load {uid.hex()} {signature.hex()} {body}") == "ok"

    def dump(self) -> bytes:
        return bytes.fromhex(self._ask("dump"))

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            try:
                self.process.wait(REPLY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(REPLY_TIMEOUT_S)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _serve(tag: NtagEmulator) -> None:
    print("port", tag.port, flush=True)
    for line in sys.stdin:  # ends when the parent closes stdin
        command, *args = line.split()
        if command == "quit":
            return
        if command == "load":
            uid, signature, memory = (bytes.fromhex(a) if a != "-" else b"" for a in args)
            # Single assignments between sessions: the tag thread is idle (the reader is).
            tag.memory = bytearray(memory) or ntag213_memory(uid)
            tag.signature = signature
            tag.uid = uid
            print("ok", flush=True)
        elif command == "dump":
            print(bytes(tag.memory).hex(), flush=True)
        else:
            print("error unknown command", flush=True)


if __name__ == "__main__":
    placeholder = bytes.fromhex("04000000000000")
    with NtagEmulator(placeholder) as emulator:
        _serve(emulator)
