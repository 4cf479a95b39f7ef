"""Every message type of the protocol by name: the protocol document
(docs/protocol/asyncapi.yaml) and the golden fixtures are made from it."""

from __future__ import annotations

from tapcard.wire.bay_messages import BayStart
from tapcard.wire.messages import (
    Body,
    DenyList,
    Health,
    ProductCatalog,
    Resend,
    RulesDoc,
    Snapshot,
    SnapshotQuery,
    Status,
    TxIntent,
    TxResults,
)
from tapcard.wire.staff_messages import StaffReply, StaffRequest

MESSAGE_TYPES: dict[str, type[Body]] = {
    "TxIntent": TxIntent,
    "TxResults": TxResults,
    "Resend": Resend,
    "Status": Status,
    "Health": Health,
    "SnapshotQuery": SnapshotQuery,
    "Snapshot": Snapshot,
    "RulesDoc": RulesDoc,
    "DenyList": DenyList,
    "ProductCatalog": ProductCatalog,
    "StaffRequest": StaffRequest,
    "StaffReply": StaffReply,
    "BayStart": BayStart,
}
