"""Background threads for the screens: reader polling and slow calls never on the UI thread.

`Worker` runs submitted jobs one at a time (bounded queue) and hands each result to a
callback through `post`, which the Kivy app sets to a Clock.schedule_once wrapper and
tests set to a direct call. `CardWatcher` polls the reader and reports taps (verified,
blank, or refused) and removals the same way.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from tapcard import sdnotify
from tapcard.cards.credential import CredentialError
from tapcard.errors import TapcardError
from tapcard.readers import CardReader, CardTap, ReaderError

log = logging.getLogger(__name__)

JOBS_QUEUED_MAX: Final = 16
READ_POLL_MS: Final = 200  # how soon the watcher notices a stop or a removal
STOP_TIMEOUT_S: Final = 5.0
READER_FAULT_RETRY_S: Final = 1.0
# A reader loop silent this long is stalled: the app stops feeding systemd's watchdog.
# Longer than a turn (READ_POLL_MS, or the fault retry) and than a slow credential read.
WATCHER_STALL_S: Final = 10.0
assert WATCHER_STALL_S > READER_FAULT_RETRY_S + READ_POLL_MS / 1000
assert READ_POLL_MS / 1000 < STOP_TIMEOUT_S

Post = Callable[[Callable[[], None]], None]
T = TypeVar("T")


def direct(fn: Callable[[], None]) -> None:
    fn()


class Worker:
    """One background thread for a screen's slow calls, each job's result (or the
    exception it raised) handed back through `post`."""

    def __init__(self, name: str, post: Post) -> None:
        self._post = post
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=JOBS_QUEUED_MAX)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T], done: Callable[[T | Exception], None]) -> bool:
        """Run `job` off the UI thread, then `done(result or exception)` on it."""

        def run() -> None:
            result: T | Exception
            try:
                result = job()
            except TapcardError as exc:
                result = exc
            except Exception as exc:  # a traceback never reaches a member's screen
                log.exception("background job failed")
                result = exc
            self._post(functools.partial(done, result))

        try:
            self._jobs.put_nowait(run)
        except queue.Full:
            log.warning("worker busy: a job was dropped")
            return False
        return True

    def _run(self) -> None:
        while True:
            run = self._jobs.get()
            if run is None:
                return
            run()

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(STOP_TIMEOUT_S)
        assert not self._thread.is_alive(), "worker did not stop"


@dataclass(frozen=True, slots=True)
class Tap:
    """A card on the reader: verified (card_id), blank, or refused (error)."""

    raw: CardTap | None
    card_id: str = ""
    blank: bool = False
    error: TapcardError | None = None


class CardWatcher:
    """Polls the reader on its own thread; reports each tap and each removal once."""

    def __init__(
        self,
        reader: CardReader,
        identify: Callable[[CardTap], str],
        on_tap: Callable[[Tap], None],
        on_removed: Callable[[], None],
        post: Post,
    ) -> None:
        self.reader = reader
        self._identify_card = identify  # the device's one credential check (DevicePort)
        self._on_tap = on_tap
        self._on_removed = on_removed
        self._post = post
        self._stop = threading.Event()
        self.paused = threading.Event()  # set while a terminal writes a card
        self.turn_at = time.monotonic()  # each turn of the reader loop; read by the watchdog
        self._thread = threading.Thread(target=self._run, name="card-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_TIMEOUT_S)
        assert not self._thread.is_alive(), "card watcher did not stop"

    def alive(self) -> bool:
        """Whether the reader loop turned lately (every turn is bounded by READ_POLL_MS)."""
        return time.monotonic() - self.turn_at < WATCHER_STALL_S

    def _run(self) -> None:
        while not self._stop.is_set():
            self.turn_at = time.monotonic()
            if self.paused.is_set():
                self._stop.wait(READ_POLL_MS / 1000)
                continue
            try:
                raw = self.reader.wait_for_card(READ_POLL_MS)
            except ReaderError as exc:
                self._post(functools.partial(self._on_tap, Tap(None, error=exc)))
                self._stop.wait(READER_FAULT_RETRY_S)
                continue
            if raw is None:
                continue
            tap = self._identify(raw)
            self._post(functools.partial(self._on_tap, tap))
            self._wait_removal()

    def _identify(self, raw: CardTap) -> Tap:
        if raw.is_blank:
            return Tap(raw, blank=True)
        try:
            card_id = self._identify_card(raw)
        except (CredentialError, ReaderError) as exc:
            return Tap(raw, error=exc)
        return Tap(raw, card_id=card_id)

    def _wait_removal(self) -> None:
        while not self._stop.is_set():
            self.turn_at = time.monotonic()
            try:
                if self.reader.wait_for_removal(READ_POLL_MS):
                    self._post(self._on_removed)
                    return
            except ReaderError:
                self._post(self._on_removed)
                return


class AppLiveness:
    """systemd's view of a UI app: READY once the UI loop runs, then watchdog pings only
    while both the UI loop (the caller is a Clock callback) and the reader loop turn, so
    that a stall in either gets the app restarted."""

    def __init__(self) -> None:
        self.watchdog = sdnotify.Watchdog()
        self._ready = False

    def tick(self, watcher: CardWatcher | None) -> None:
        if not self._ready:
            sdnotify.ready("ui running")
            self._ready = True
        if watcher is None or watcher.alive():
            self.watchdog.ping()

    def stopping(self) -> None:
        sdnotify.stopping()
