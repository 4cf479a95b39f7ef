"""Making signed transaction intents: a UUID, the next per-device sequence number, a
signature with the device key, and who rang it up (`StaffBadge`). The outbox stores
exactly these bytes and resends them unchanged, so the hub sees the same digest on every
delivery."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from nacl.signing import SigningKey

from tapcard.clock import clock_from_env
from tapcard.wire import messages as m
from tapcard.wire.envelope import seal
from tapcard.wire.ids import new_tx_id
from tapcard.wire.topics import Family, device_topic


@dataclass(frozen=True, slots=True)
class StaffBadge:
    """The staff member logged in at a terminal, as intents carry them: the hub's session
    token of an online login, or `offline` when the terminal's login cache let them in
    (the hub checks the staff id on arrival)."""

    staff_id: str
    session: str = ""
    offline: bool = False

    def __post_init__(self) -> None:
        assert not (self.session and self.offline), "an offline login has no hub session"


def badge_for(signed_in: StaffBadge | None, staff: str) -> str | StaffBadge:
    """What an intent rung up by `staff` carries: the signed-in badge when it is theirs."""
    return signed_in if signed_in is not None and signed_in.staff_id == staff else staff


@dataclass(frozen=True, slots=True)
class SealedIntent:
    tx_id: uuid.UUID
    seq: int
    topic: str
    payload: bytes
    intent: m.TxIntent


def seal_intent(
    key: SigningKey,
    device_id: str,
    seq: int,
    card_id: str,
    op: m.AnyOp,
    rules_version: int,
    offline: bool = False,
    staff: str | StaffBadge = "",
    created_ms: int | None = None,
    tx_id: uuid.UUID | None = None,
    member_code: str = "",
) -> SealedIntent:
    assert seq >= 1
    badge = staff if isinstance(staff, StaffBadge) else StaffBadge(staff)
    created_ms = clock_from_env().now_ms() if created_ms is None else created_ms
    intent = m.TxIntent(
        tx_id=tx_id or new_tx_id(created_ms),
        device=device_id,
        seq=seq,
        created_ms=created_ms,
        card_id=card_id,
        rules_version=rules_version,
        offline=offline,
        staff=badge.staff_id,
        staff_session=badge.session,
        staff_offline=badge.offline,
        member_code=member_code,
        op=op,
    )
    topic = device_topic(device_id, Family.TX)
    return SealedIntent(intent.tx_id, seq, topic, seal(key, device_id, topic, intent), intent)
