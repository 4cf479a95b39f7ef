"""Tap benchmark: card present to decision ready, on the sim, pcsc and nfc readers.

Each timed tap: wait for the card, read the credential, verify the issuer signature
(and the smart card's answer to a challenge, or the tag's originality signature), get
the snapshot (from the hub over MQTT 5 request/response online; from the cache offline)
and run the offline/online policy for a redemption. Online runs first; then the broker
is stopped and the same taps run offline from the cache the online run filled.

- sim: the in-process simulated reader; a card is tapped and removed for every tap.
- pcsc: a private pcscd with the vpcd driver (tests/readers/pcsc_emulation.py), the
  card emulated in its own process (tests/readers/vpcd_card.py). A card stays in the
  slot for a run of taps, each a full card session (connect, 5 APDUs to read, one to
  answer the challenge). Inserting and pulling are not timed: pcscd notices a vpcd card
  only at its next poll (~400 ms), which says nothing about a real reader; how long it
  took is printed as `pcsc_insert_seen_p50_ms`. Needs root (unshare --mount) and the
  pcscd and vsmartcard-vpcd packages.
- nfc: nfcpy's UDP driver and an emulated NTAG213 (tests/readers/ntag_emulator.py) in
  a process of its own (tests/readers/ntag_process.py: in this busy process it would
  answer late and nfcpy's session would go out of step); the tag in the field is
  swapped for the next member's between taps, untimed. nfcpy itself waits 10 ms for
  its AUTHENTICATE probe that an NTAG ignores, on a real reader as well.

A backend that cannot run here (no root, no pcscd) is reported on stdout with the
reason, its figures are null, and the others are still measured. A measurement that
breaks is reported the same way, with its traceback on stderr, and the exit code is 1.

    python bench/tap.py [--quick] [--taps N] [--backends sim,pcsc,nfc]

The last line is one JSON object with `<backend>_<online|offline>_<p50|p99>_ms` for
sim, pcsc and nfc, plus `<backend>_not_measured` for a backend that could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The emulators live with the reader tests (tests/readers has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "readers"))

import pcsc_emulation
from ntag_process import NtagProcess

from bench._rig import BenchRig, make_rig, ready_runtime, wait_until
from tapcard.cards.credential import issue_credential
from tapcard.cards.originality import public_key_for_tests, sign_for_tests
from tapcard.device.runtime import DeviceRuntime
from tapcard.readers import Backend, CardReader, ReaderConfig, open_reader
from tapcard.readers.sim import SimCard, SimReader, make_sim_card
from tapcard.wire import messages as m
from tests.clock import pinned_today

FULL_TAPS = 1_000
QUICK_TAPS = 100
CARDS = 10  # members in each rig; taps go round them
PCSC_INSERTS_FULL = 10  # cards put into the vpcd slot one after another, per mode
PCSC_INSERTS_QUICK = 3  # each costs ~1 s of pcscd polling (insert and pull)
# pcscd's ~400 ms vpcd poll and nfcpy's UDP sense round (up to 1 s) fit in this.
READ_TIMEOUT_MS = 3_000
LINK_DOWN_TIMEOUT_S = 20.0
MASTER = b"\x42" * 32
NXP_TEST_KEY = 0x1F2E3D4C5B6A7988  # stands in for NXP's private key (emulated tags)
NONCE = 7  # ECDSA nonce of the first emulated tag's signature
BACKENDS = (Backend.SIM, Backend.PCSC, Backend.NFC)
MODES = ("online", "offline")
REDEEM = m.Redeem(item="PARK-HOUR", units=1)
assert PCSC_INSERTS_QUICK <= PCSC_INSERTS_FULL <= CARDS
assert QUICK_TAPS >= PCSC_INSERTS_FULL


class NotMeasurable(Exception):
    """This machine cannot run the backend (missing tool, not root); says why."""


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def _uid(i: int) -> bytes:
    return bytes([4, i, 2, 3, 4, 5, 6])


@dataclass
class Source:
    """Puts member cards into one reader's field; `plan` says which card for how many taps."""

    reader: CardReader
    card_ids: list[str]
    inserts: int = 0  # pcsc: cards inserted per mode; 0: a fresh card every tap
    insert_seen_ms: list[float] = field(default_factory=list)

    def plan(self, taps: int) -> Iterator[tuple[int, int]]:
        if not self.inserts:
            yield from ((i % len(self.card_ids), 1) for i in range(taps))
            return
        for i in range(self.inserts):
            yield i, taps // self.inserts + (1 if i < taps % self.inserts else 0)

    def put(self, index: int) -> None:
        raise NotImplementedError

    def take(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.reader.close()


class SimSource(Source):
    def __init__(self, rig: BenchRig) -> None:
        issuer = rig.hub.secrets.issuer_key
        today = pinned_today()
        self.cards = [
            make_sim_card(issuer, MASTER, card, _uid(i), today) for i, card in enumerate(rig.cards)
        ]
        self.sim = SimReader()
        super().__init__(self.sim, rig.cards)

    def put(self, index: int) -> None:
        self.sim.tap(self.cards[index])

    def take(self) -> None:
        self.sim.remove()


class PcscSource(Source):
    def __init__(self, rig: BenchRig, pcscd: pcsc_emulation.Pcscd, inserts: int) -> None:
        issuer = rig.hub.secrets.issuer_key
        today = pinned_today()
        self.cards: list[SimCard] = [
            make_sim_card(issuer, MASTER, card, _uid(i), today) for i, card in enumerate(rig.cards)
        ]
        self.pcscd = pcscd
        self.inserted: pcsc_emulation.EmulatedCard | None = None
        reader = open_reader(ReaderConfig(backend=Backend.PCSC, reader=pcscd.reader_name))
        super().__init__(reader, rig.cards, inserts)

    def put(self, index: int) -> None:
        card = self.cards[index]
        started = time.perf_counter()
        self.inserted = pcsc_emulation.insert_card(
            self.pcscd, card.uid, card.credential, card.card_seed
        )
        # Until pcscd polls vpcd the slot looks empty; this untimed read waits for that.
        tap = self.reader.wait_for_card(READ_TIMEOUT_MS)
        if tap is None or tap.uid != card.uid:
            raise pcsc_emulation.EmulationError("pcscd did not see the inserted card")
        self.insert_seen_ms.append((time.perf_counter() - started) * 1000)

    def take(self) -> None:
        assert self.inserted is not None
        self.inserted.pull()
        self.inserted = None
        if not self.reader.wait_for_removal(READ_TIMEOUT_MS):
            raise pcsc_emulation.EmulationError("pcscd still reports the pulled card")

    def close(self) -> None:
        if self.inserted is not None:
            self.inserted.pull()
        super().close()


class NfcSource(Source):
    def __init__(self, rig: BenchRig) -> None:
        self.tag = NtagProcess()
        config = ReaderConfig(
            backend=Backend.NFC,
            reader=f"udp:127.0.0.1:{self.tag.port}",
            originality_keys=(public_key_for_tests(NXP_TEST_KEY),),
        )
        super().__init__(open_reader(config), rig.cards)
        self.tags = [self._issue(rig, i, card) for i, card in enumerate(rig.cards)]

    def _issue(self, rig: BenchRig, i: int, card_id: str) -> tuple[bytes, bytes, bytes]:
        """A blank NTAG213 in the field gets the member's credential, as HQ issues it."""
        uid = _uid(i)
        signature = sign_for_tests(uid, NXP_TEST_KEY, NONCE + i)
        self.tag.load(uid, signature)
        blank = self.reader.wait_for_card(READ_TIMEOUT_MS)
        assert blank is not None and blank.is_blank and blank.uid == uid
        credential = issue_credential(rig.hub.secrets.issuer_key, card_id, uid, pinned_today())
        self.reader.write_credential(credential, READ_TIMEOUT_MS)
        return uid, signature, self.tag.dump()

    def put(self, index: int) -> None:
        self.tag.load(*self.tags[index])

    def take(self) -> None:
        pass  # the next put swaps the tag in the field

    def close(self) -> None:
        super().close()
        self.tag.stop()


def _taps(runtime: DeviceRuntime, source: Source, n: int) -> list[float]:
    samples = []
    for index, count in source.plan(n):
        source.put(index)
        for _ in range(count):
            started = time.perf_counter()
            card_id = runtime.read_card(READ_TIMEOUT_MS)
            assert card_id == source.card_ids[index]
            seen = runtime.snapshot(card_id)
            verdict = runtime.check(card_id, REDEEM, seen)
            samples.append((time.perf_counter() - started) * 1000)
            assert verdict.reason is not None
        source.take()
    assert len(samples) == n
    return samples


def _measure(
    backend: Backend, folder: Path, n: int, pcscd: pcsc_emulation.Pcscd | None, quick: bool
) -> dict[str, float]:
    """Online then offline figures of one backend, on a rig of its own."""
    folder.mkdir()
    rig = make_rig(folder, cards=CARDS)
    figures: dict[str, float] = {}
    source: Source | None = None
    runtime: DeviceRuntime | None = None
    try:
        if backend is Backend.SIM:
            source = SimSource(rig)
        elif backend is Backend.PCSC:
            assert pcscd is not None
            source = PcscSource(rig, pcscd, PCSC_INSERTS_QUICK if quick else PCSC_INSERTS_FULL)
        else:
            source = NfcSource(rig)
        runtime = ready_runtime(rig, reader=source.reader)
        for mode in MODES:
            if mode == "offline":
                rig.broker.stop()
                wait_until(lambda: not runtime.link.connected, LINK_DOWN_TIMEOUT_S, "link down")
            samples = _taps(runtime, source, n)
            p50 = figures[f"{backend}_{mode}_p50_ms"] = round(statistics.median(samples), 3)
            p99 = figures[f"{backend}_{mode}_p99_ms"] = round(_percentile(samples, 99), 3)
            print(f"{backend} {mode}: p50 {p50} ms, p99 {p99} ms over {n} taps", flush=True)
        if source.insert_seen_ms:
            seen = figures[f"{backend}_insert_seen_p50_ms"] = round(
                statistics.median(source.insert_seen_ms), 1
            )
            print(f"{backend}: pcscd saw an inserted card after {seen} ms (p50, not timed)")
    finally:
        if runtime is not None:
            runtime.stop()
        if source is not None:
            source.close()
        rig.close()
    return figures


@contextlib.contextmanager
def _private_pcscd() -> Iterator[pcsc_emulation.Pcscd]:
    """The private pcscd, or NotMeasurable with the reason it cannot run here."""
    problem = pcsc_emulation.missing_tools()
    if problem is not None:
        raise NotMeasurable(problem)
    run_dir = Path(tempfile.mkdtemp(prefix="tapcard-bench-pcscd-"))
    try:
        pcsc_emulation.point_client_at(run_dir)  # before pyscard is imported
        service = pcsc_emulation.Pcscd(run_dir)
        try:
            service.start()
        except pcsc_emulation.EmulationError as error:
            raise NotMeasurable(str(error)) from error
        try:
            yield service
        finally:
            service.stop()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _run(backends: list[Backend], n: int, quick: bool, tmp: Path) -> tuple[dict[str, Any], bool]:
    """Figures of every backend asked for (null when not measured) and whether all ran or
    were legitimately unavailable here; a measurement that broke prints its traceback."""
    figures: dict[str, Any] = {}
    clean = True
    with contextlib.ExitStack() as stack:
        pcscd: pcsc_emulation.Pcscd | None = None
        for backend in BACKENDS:
            for mode in MODES:
                figures[f"{backend}_{mode}_p50_ms"] = figures[f"{backend}_{mode}_p99_ms"] = None
            why = "" if backend in backends else "not asked for (--backends)"
            try:
                if not why and backend is Backend.PCSC:
                    pcscd = stack.enter_context(_private_pcscd())
                if not why:
                    figures |= _measure(backend, tmp / str(backend), n, pcscd, quick)
            except NotMeasurable as error:
                why = str(error)
            except Exception as error:  # report it, then measure the other backends
                traceback.print_exc()
                why = f"failed: {error!r}"
                clean = False
            if why:
                figures[f"{backend}_not_measured"] = why
                print(f"{backend}: not measured: {why}", flush=True)
    return figures, clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--taps", type=int)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    n = args.taps or (QUICK_TAPS if args.quick else FULL_TAPS)
    backends = [Backend(name) for name in args.backends.split(",")]
    if n < PCSC_INSERTS_FULL:
        parser.error(f"--taps must be at least {PCSC_INSERTS_FULL} (pcsc inserts that many cards)")
    with tempfile.TemporaryDirectory(prefix="tapcard-tap-") as tmp:
        figures, clean = _run(backends, n, args.quick, Path(tmp))
    print(json.dumps({"taps": n, "quick": bool(args.quick), **figures}))
    if not clean:
        sys.exit(1)


if __name__ == "__main__":
    main()
