"""Real reader stacks without hardware: a private pcscd with the vpcd driver, and
nfcpy's UDP driver; only the card is emulated, at the level of the bytes it answers.

pcsc-lite 1.9.9's pcscd ignores PCSCLITE_CSOCK_NAME and always serves
/run/pcscd/pcscd.comm, so the fixture runs pcscd in a private mount namespace with a
temp directory bound over /run/pcscd; the client library does honour the variable and
is pointed at that directory. The client reads it once per process, so it is set here,
before anything imports pyscard. Nothing is skipped: a missing pcscd or vpcd fails.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Test modules must not import this file (a second import would pick a second directory
# after pyscard has already read the first); fixtures hand out what they need.
PCSCD_RUN_DIR = Path(tempfile.mkdtemp(prefix="tapcard-pcscd-"))
atexit.register(shutil.rmtree, PCSCD_RUN_DIR, ignore_errors=True)
os.environ["PCSCLITE_CSOCK_NAME"] = str(PCSCD_RUN_DIR / "pcscd.comm")

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_FRIENDLY_NAME = "Tapcard Test"
# vpcd makes two slots per reader.conf entry, on ports P and P+1; tests use slot 0.
READER_NAME = f"{READER_FRIENDLY_NAME} 00 00"
PCSCD_START_TIMEOUT_S = 5.0
PROCESS_STOP_TIMEOUT_S = 5.0
CARD_INSERT_TIMEOUT_S = 5.0


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return int(port)
    raise RuntimeError("no two adjacent free ports")


def stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM, wait, then SIGKILL: the cleanup every test process gets."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(PROCESS_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(PROCESS_STOP_TIMEOUT_S)
    assert process.returncode is not None, f"{name} still running"


class Pcscd:
    """A private pcscd; tests may stop and start it to play a service restart."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.port = _free_port_pair()
        self.config = run_dir / "reader.conf"
        self.config.write_text(
            f'FRIENDLYNAME "{READER_FRIENDLY_NAME}"\n'
            f"DEVICENAME /dev/null:0x{self.port:04X}\n"
            f"LIBPATH {VPCD_DRIVER}\n"
        )
        self.log = run_dir / "pcscd.log"
        self.reader_name = READER_NAME
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None
        script = (
            f"mkdir -p /run/pcscd && mount --bind {self.run_dir} /run/pcscd && "
            f"exec pcscd --foreground --config {self.config}"
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        sock = self.run_dir / "pcscd.comm"
        deadline = time.monotonic() + PCSCD_START_TIMEOUT_S
        while not sock.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"pcscd did not start; log:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.005)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, "pcscd")
            self.process = None
        (self.run_dir / "pcscd.comm").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    for tool in ("pcscd", "unshare"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (apt-get install pcscd util-linux)")
    if not VPCD_DRIVER.exists():
        pytest.fail(f"{VPCD_DRIVER} missing (apt-get install vsmartcard-vpcd)")
    service = Pcscd(PCSCD_RUN_DIR)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(PCSCD_RUN_DIR, ignore_errors=True)


@dataclass
class EmulatedCard:
    process: subprocess.Popen[bytes]

    def pull(self) -> None:
        """Take the card out of the field (the emulator hangs up on vpcd)."""
        stop_process(self.process, "vpcd card")
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def insert_card(pcscd: Pcscd) -> Iterator[object]:
    """insert_card(uid, credential=b"", card_seed=None, fault="none:0") -> EmulatedCard."""
    cards: list[EmulatedCard] = []

    def insert(
        uid: bytes, credential: bytes = b"", card_seed: bytes | None = None, fault: str = "none:0"
    ) -> EmulatedCard:
        command = [
            sys.executable,
            str(Path(__file__).with_name("vpcd_card.py")),
            f"--port={pcscd.port}",
            f"--uid={uid.hex()}",
            f"--credential={credential.hex()}",
            f"--card-seed={card_seed.hex() if card_seed else ''}",
            f"--fault={fault}",
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
        card = EmulatedCard(process)
        cards.append(card)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], CARD_INSERT_TIMEOUT_S)
        assert ready, "card emulator did not connect to vpcd"
        assert process.stdout.readline().strip() == b"inserted"
        return card

    yield insert
    for card in cards:
        card.pull()
    if cards and pcscd.process is not None:
        # pcscd notices a pulled card only at its next poll (~400 ms); wait for that, or
        # the next test would connect to the ghost of this card.
        from tapcard.readers.pcsc import PcscReader

        watcher = PcscReader(READER_NAME)
        try:
            assert watcher.wait_for_removal(int(CARD_INSERT_TIMEOUT_S * 1000))
        finally:
            watcher.close()
