"""The wash bay's start issued by the hub (hub -> dev/{device}/bay).

A kiosk the registry pairs with a wash bay (hub/bays.py) never starts the bay itself:
when it books a car wash redemption, the hub consumes the voucher for the bay and sends
`BayStart`, signed with the hub key, to that bay's topic, and the same to the kiosk's,
which tells the member which bay starts. The topic is signed with the body, and the
body names both devices: the bay starts only for a start naming it, once per voucher
(its journal, tapcard/device/gate.py), however often the message comes.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from tapcard.wire.messages import Body, DeviceId, ShortText, UnixMs


class BayStart(Body, frozen=True, kw_only=True):
    bay: DeviceId  # the bay that starts
    kiosk: DeviceId  # the paired kiosk that sold the wash
    voucher: ShortText  # consumed by the hub for this bay
    item: ShortText  # the catalog item (a car wash)
    units: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    label: Annotated[str, msgspec.Meta(max_length=16)] = ""  # "2": 2号洗车位 / Bay 2
    issued_ms: UnixMs  # hub time
