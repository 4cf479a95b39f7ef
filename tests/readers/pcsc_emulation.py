"""A private pcscd with the vpcd driver, and emulated cards for it, without pytest.

The readers conftest and `bench/tap.py` both start the reader stack from here; neither
hardware nor the system's pcscd is touched.

pcsc-lite 1.9.9's pcscd ignores PCSCLITE_CSOCK_NAME and always serves
/run/pcscd/pcscd.comm, so pcscd runs in a private mount namespace (`unshare --mount`,
root only) with a temp directory bound over /run/pcscd. The client library does honour
the variable but reads it once per process, so `point_client_at` must run before
anything imports pyscard, and only once.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CARD_EMULATOR = Path(__file__).with_name("vpcd_card.py")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_FRIENDLY_NAME = "Tapcard Test"
# vpcd makes two slots per reader.conf entry, on ports P and P+1; we use slot 0.
READER_NAME = f"{READER_FRIENDLY_NAME} 00 00"
PCSCD_START_TIMEOUT_S = 5.0
PROCESS_STOP_TIMEOUT_S = 5.0
CARD_INSERT_TIMEOUT_S = 5.0
FREE_PORT_TRIES_MAX = 50
SOCKET_POLL_S = 0.005
CLIENT_SOCKET_VARIABLE = "PCSCLITE_CSOCK_NAME"
assert PCSCD_START_TIMEOUT_S > SOCKET_POLL_S


class EmulationError(RuntimeError):
    """The emulated reader stack could not be set up (missing tool, pcscd died)."""


def missing_tools() -> str | None:
    """Why pcscd with vpcd cannot run here, or None when it can."""
    for tool, package in (("pcscd", "pcscd"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    if not VPCD_DRIVER.exists():
        return f"{VPCD_DRIVER} missing (apt-get install vsmartcard-vpcd)"
    if os.geteuid() != 0:
        return "pcscd in a private mount namespace needs root (unshare --mount)"
    return None


def point_client_at(run_dir: Path) -> None:
    """Make this process's pyscard talk to the pcscd serving `run_dir`; call it once."""
    wanted = str(run_dir / "pcscd.comm")
    if "smartcard.scard" in sys.modules:
        # Too late to change it: the client library has read the variable already.
        assert os.environ.get(CLIENT_SOCKET_VARIABLE) == wanted, "pyscard already imported"
        return
    os.environ[CLIENT_SOCKET_VARIABLE] = wanted


def _free_port_pair() -> int:
    for _ in range(FREE_PORT_TRIES_MAX):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return int(port)
    raise EmulationError("no two adjacent free ports")


def stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM, wait, then SIGKILL: the cleanup every emulator process gets."""
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
                tail = self.log.read_text()[-2000:]
                raise EmulationError(f"pcscd did not start; log:\n{tail}")
            time.sleep(SOCKET_POLL_S)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, "pcscd")
            self.process = None
        (self.run_dir / "pcscd.comm").unlink(missing_ok=True)


@dataclass
class EmulatedCard:
    process: subprocess.Popen[bytes]

    def pull(self) -> None:
        """Take the card out of the field (the emulator hangs up on vpcd)."""
        stop_process(self.process, "vpcd card")
        if self.process.stdout is not None:
            self.process.stdout.close()


def insert_card(
    pcscd: Pcscd,
    uid: bytes,
    credential: bytes = b"",
    card_seed: bytes | None = None,
    fault: str = "none:0",
    native: tuple[bytes, bytes | None] | None = None,
) -> EmulatedCard:
    """Start a card emulator (vpcd_card.py) and return once it has connected to vpcd.

    pcscd itself notices the card at its next poll of vpcd (about every 400 ms)."""
    command = [
        sys.executable,
        str(CARD_EMULATOR),
        f"--port={pcscd.port}",
        f"--uid={uid.hex()}",
        f"--credential={credential.hex()}",
        f"--card-seed={card_seed.hex() if card_seed else ''}",
        f"--fault={fault}",
    ]
    if native is not None:  # an NXP chip: (GetVersion, Read_Sig's signature or None)
        command.append(f"--native-version={native[0].hex()}")
        command.append(f"--native-signature={native[1].hex() if native[1] else ''}")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    card = EmulatedCard(process)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], CARD_INSERT_TIMEOUT_S)
    if not ready or process.stdout.readline().strip() != b"inserted":
        card.pull()
        raise EmulationError("card emulator did not connect to vpcd")
    return card


def wait_card_gone(reader_name: str = READER_NAME) -> None:
    """Wait until pcscd has seen the pulled card go (its next poll, ~400 ms), so that the
    next user does not connect to the ghost of this card."""
    from tapcard.readers.pcsc import PcscReader

    watcher = PcscReader(reader_name)
    try:
        gone = watcher.wait_for_removal(int(CARD_INSERT_TIMEOUT_S * 1000))
    finally:
        watcher.close()
    if not gone:
        raise EmulationError("pcscd still reports the pulled card")
