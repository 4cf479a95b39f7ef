"""The durable outbox: every intent gets a UUID and the next per-device sequence
number, is signed with the device key and committed to SQLite before `add` returns, so
the caller may say "done" only for what survives a power cut.

The outbox is bounded: at `OUTBOX_LEN_MAX` pending entries (or the rule set's smaller
`offline.outbox_len_max`) `add` raises `OutboxFullError` and the device raises the
`outbox_full` health alarm until the sender has drained below the limit.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Final

from nacl.signing import SigningKey

from tapcard.clock import Clock
from tapcard.device.intents import SealedIntent, StaffBadge, seal_intent
from tapcard.device.store import DeviceStore, Spent
from tapcard.errors import TapcardError
from tapcard.wire import messages as m

OUTBOX_LEN_MAX: Final = 20_000  # pending intents; a day of a busy counter while offline
ALARM_OUTBOX_FULL: Final = "outbox_full"


class OutboxFullError(TapcardError):
    """The outbox holds as many unsent intents as allowed; nothing new is accepted."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(
            f"the outbox holds {depth} unsent transactions (limit {limit}): "
            "no new transactions until the hub is reachable again"
        )
        self.depth = depth
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Queued:
    """A locally accepted intent: committed to the outbox, not yet answered by the hub."""

    tx_id: uuid.UUID
    seq: int
    created_ms: int
    offline: bool


class Outbox:
    def __init__(self, store: DeviceStore, key: SigningKey, device_id: str, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.key = key
        self.device_id = device_id
        self._full = threading.Event()

    @property
    def full_alarm(self) -> bool:
        return self._full.is_set()

    def add(
        self,
        card_id: str,
        op: m.AnyOp,
        rules_version: int,
        *,
        offline: bool,
        staff: str | StaffBadge = "",
        member_code: str = "",
        spent: Spent | None = None,
        len_max: int = OUTBOX_LEN_MAX,
    ) -> Queued:
        """Seal and commit one intent; raises OutboxFullError or StoreError."""
        limit = min(len_max, OUTBOX_LEN_MAX)
        assert limit >= 1
        created_ms = self.clock.now_ms()

        def make(seq: int) -> SealedIntent:
            return seal_intent(
                self.key,
                self.device_id,
                seq,
                card_id,
                op,
                rules_version,
                offline=offline,
                staff=staff,
                created_ms=created_ms,
                member_code=member_code,
            )

        def full(depth: int) -> Exception:
            self._full.set()
            return OutboxFullError(depth, limit)

        sealed = self.store.append(make, spent, limit, full)
        self._full.clear()
        assert sealed.intent.offline == offline
        return Queued(sealed.tx_id, sealed.seq, created_ms, offline)

    def check_alarm(self, len_max: int = OUTBOX_LEN_MAX) -> None:
        """Clear the full alarm once the sender has made room."""
        if self._full.is_set() and self.store.depth() < min(len_max, OUTBOX_LEN_MAX):
            self._full.clear()
