"""Intents the hub sets aside: signed by their device, but impossible to handle.

Two cases: a poison message (its handling raised POISON_ATTEMPTS_MAX times with the
database up, hub/service.py), and a signed intent whose body the schema refuses
(hub/router.py). Without an answer the device would send it again forever, and each
time it would be poisoned again. So the hub answers SET_ASIDE and stores that answer
as the intent's result, like any refusal: the sequence number is consumed (the gap
report does not list it), a resend gets the stored answer at no cost, and nothing is
booked. The device moves the entry to its dead-letter list (tapcard/device/store.py)
and raises the `dead_letter` alarm in its health reports.

Only a signature-checked intent is set aside: anyone may publish on a device's topic,
and an unsigned or unreadable message must not consume a device's numbers. A sequence
number beyond the window of the device's next expected one (SEQ_AHEAD_MAX) is not
recorded either (the device gets the refusal, the number stays free), nor one already
used by another transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa

from hub import db
from hub.app import Hub
from tapcard.domain.rules import SEQ_AHEAD_MAX
from tapcard.wire.codes import Reason
from tapcard.wire.messages import TxResult

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TxResult)
_NIL = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class Aside:
    """What identifies a signed intent the hub cannot handle."""

    device_id: str
    tx_id: uuid.UUID
    seq: int
    digest: str  # of the signed body bytes
    why: str  # for the device's dead-letter list and the log
    rules_version: int = 0
    card_id: str = ""


def set_aside(hub: Hub, aside: Aside) -> TxResult | None:
    """Store and return the SET_ASIDE answer, the stored answer if the intent has one,
    or None when the intent cannot be recorded (see the module's note). Never raises:
    it runs where handling already failed."""
    if aside.tx_id == _NIL or aside.seq < 1:
        return None
    try:
        with hub.writer.begin() as conn:
            return _record(conn, aside, hub.clock.now_ms())
    except Exception:
        log.exception("intent %s of %s could not be set aside", aside.tx_id, aside.device_id)
        return None


def _record(conn: sa.Connection, aside: Aside, now_ms: int) -> TxResult | None:
    r, d = db.results, db.devices
    stored = conn.execute(sa.select(r.c.body).where(r.c.tx_id == str(aside.tx_id))).first()
    if stored is not None:
        return _decoder.decode(stored.body)
    seq_max = conn.execute(sa.select(d.c.seq_max).where(d.c.id == aside.device_id)).scalar()
    if seq_max is None or aside.seq > int(seq_max) + 1 + SEQ_AHEAD_MAX:
        return None
    taken = conn.execute(
        sa.select(r.c.tx_id).where(r.c.device_id == aside.device_id, r.c.seq == aside.seq)
    ).first()
    if taken is not None:
        return None
    result = TxResult(
        tx_id=aside.tx_id,
        device=aside.device_id,
        seq=aside.seq,
        accepted=False,
        reason=Reason.SET_ASIDE,
        message=f"set aside by the hub, not booked: {aside.why}"[:500],
        rules_version=aside.rules_version,
        card_id=aside.card_id,
    )
    conn.execute(
        r.insert().values(
            tx_id=str(aside.tx_id),
            device_id=aside.device_id,
            seq=aside.seq,
            digest=aside.digest,
            accepted=False,
            reason=int(Reason.SET_ASIDE),
            body=_encoder.encode(result).decode(),
            applied_ms=now_ms,
        )
    )
    conn.execute(
        d.update()
        .where(d.c.id == aside.device_id, d.c.seq_max < aside.seq)
        .values(seq_max=aside.seq)
    )
    log.error(
        "intent %s (seq %d) of %s set aside: %s", aside.tx_id, aside.seq, aside.device_id, aside.why
    )
    return result
