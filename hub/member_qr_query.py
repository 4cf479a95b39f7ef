"""A kiosk's snapshot query carrying the member's dynamic QR (`SnapshotQuery.qr`).

A kiosk with a scanner reads the card id from the code's text and asks for that card's
snapshot with the code beside it. The hub takes the code once (hub/member_qr.py) in a
write transaction and answers the card's snapshot from the same transaction, so a code
counts as used exactly when its snapshot is sent. A refused code is a Snapshot with
found=False and a MEMBER_QR_* reason, and leaves nothing behind. From there the kiosk
goes on as after a tap: what it books names the card, and the hub decides it as for one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from hub import campaign_book, member_qr
from hub.admin.snapshot import card_snapshot
from tapcard.domain.rules import RuleSet
from tapcard.wire.codes import Reason
from tapcard.wire.messages import Snapshot, SnapshotQuery

if TYPE_CHECKING:
    from hub.app import Hub

REFUSALS: Final[Mapping[str, Reason]] = {  # hub/member_qr.py's reasons
    "qr_used": Reason.MEMBER_QR_USED,
    "qr_expired": Reason.MEMBER_QR_EXPIRED,
    "invalid": Reason.MEMBER_QR_INVALID,
    "card_unknown": Reason.MEMBER_QR_INVALID,
}


class _OtherCard(Exception):
    """The code names another card than the query: roll the nonce back."""


def answer_qr_query(hub: Hub, query: SnapshotQuery, rules: RuleSet | None) -> Snapshot:
    """The snapshot of the card the query's member code names, the code taken once."""
    try:
        with hub.writer.begin() as conn:
            taken = member_qr.redeem(conn, hub.secrets, query.qr, hub.clock.now_ms())
            if taken.card_id != query.card_id:
                raise _OtherCard
            snapshot = card_snapshot(conn, taken.card_id, rules)
            if snapshot.found and query.segments:
                snapshot = campaign_book.with_targeting(conn, snapshot, rules)
            return snapshot
    except member_qr.MemberQrRefused as exc:
        reason = REFUSALS.get(exc.reason, Reason.MEMBER_QR_INVALID)
    except _OtherCard:
        reason = Reason.MEMBER_QR_INVALID
    now_ms = hub.clock.now_ms()
    return Snapshot(card_id=query.card_id, found=False, reason=reason, as_of_ms=now_ms)
