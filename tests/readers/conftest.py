"""Real reader stacks without hardware: a private pcscd with the vpcd driver, and
nfcpy's UDP driver; only the card is emulated, at the level of the bytes it answers.

How pcscd is started lives in `pcsc_emulation.py` (bench/tap.py uses it too). The
pyscard client reads PCSCLITE_CSOCK_NAME once per process, so it is pointed at this
session's pcscd here, before anything imports pyscard. Nothing is skipped: a missing
pcscd or vpcd fails.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pcsc_emulation  # tests/readers is on sys.path (no __init__.py)
import pytest
from pcsc_emulation import EmulatedCard, EmulationError, Pcscd

# Test modules must not import this file (a second import would pick a second directory
# after pyscard has already read the first); fixtures hand out what they need.
PCSCD_RUN_DIR = Path(tempfile.mkdtemp(prefix="tapcard-pcscd-"))
atexit.register(shutil.rmtree, PCSCD_RUN_DIR, ignore_errors=True)
pcsc_emulation.point_client_at(PCSCD_RUN_DIR)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    problem = pcsc_emulation.missing_tools()
    if problem is not None:
        pytest.fail(problem)
    service = Pcscd(PCSCD_RUN_DIR)
    try:
        service.start()
    except EmulationError as error:
        pytest.fail(str(error))
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(PCSCD_RUN_DIR, ignore_errors=True)


@pytest.fixture
def insert_card(pcscd: Pcscd) -> Iterator[object]:
    """insert_card(uid, credential=b"", card_seed=None, fault="none:0") -> EmulatedCard."""
    cards: list[EmulatedCard] = []

    def insert(
        uid: bytes,
        credential: bytes = b"",
        card_seed: bytes | None = None,
        fault: str = "none:0",
        native: tuple[bytes, bytes | None] | None = None,
    ) -> EmulatedCard:
        card = pcsc_emulation.insert_card(pcscd, uid, credential, card_seed, fault, native)
        cards.append(card)
        return card

    yield insert
    for card in cards:
        card.pull()
    if cards and pcscd.process is not None:
        pcsc_emulation.wait_card_gone(pcscd.reader_name)
